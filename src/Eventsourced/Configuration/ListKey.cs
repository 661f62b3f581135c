namespace Eventsourced.Configuration;

/// <summary>A list that a later source replaces as a whole. <see cref="Show"/> is the printable form (passwords masked).</summary>
internal sealed record ListKey(
    string Path,
    Func<string, string?> Check,
    Action<GatewayOptions, List<string>> Set,
    Func<GatewayOptions, IEnumerable<string>> Show)
    : ConfigKey(Path);
