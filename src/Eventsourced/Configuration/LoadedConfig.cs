namespace Eventsourced.Configuration;

/// <summary>The result of <see cref="ConfigLoader.Load"/>: the effective options and the files they came from, in order.</summary>
public sealed record LoadedConfig(GatewayOptions Options, IReadOnlyList<string> FilesRead);
