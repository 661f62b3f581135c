namespace Eventsourced.Configuration;

/// <summary>The shape of a <see cref="ConfigNode"/>.</summary>
internal enum ConfigNodeKind
{
    Scalar,
    Sequence,
    Mapping,
}
