namespace Eventsourced.Naming;

/// <summary>What a <see cref="PatternSegment"/> stands for.</summary>
public enum PatternSegmentKind
{
    /// <summary>Text copied into the queue name as it is.</summary>
    Literal,

    /// <summary><c>${query:NAME}</c>: the value of query parameter NAME.</summary>
    Query,

    /// <summary><c>${cookie:NAME}</c>: the value of cookie NAME.</summary>
    Cookie,
}
