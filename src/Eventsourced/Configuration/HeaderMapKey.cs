namespace Eventsourced.Configuration;

/// <summary>HTTP headers merged by name across sources; an empty or null value removes a header.</summary>
internal sealed record HeaderMapKey(string Path, Func<GatewayOptions, IDictionary<string, string>> Map)
    : ConfigKey(Path);
