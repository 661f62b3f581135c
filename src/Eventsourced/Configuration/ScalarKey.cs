namespace Eventsourced.Configuration;

/// <summary>A single value. <see cref="Set"/> parses, checks and stores the text and returns a problem or null.</summary>
internal sealed record ScalarKey(string Path, Func<GatewayOptions, string, string?> Set, Func<GatewayOptions, string> Get)
    : ConfigKey(Path);
