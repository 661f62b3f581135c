using Eventsourced.Hosting;
namespace Eventsourced.Configuration;

/// <summary>
/// Every configuration key, in the order <see cref="ConfigPrinter"/> prints them (sections in order of
/// first appearance). Adding a key is one line here plus its property; the loader, the environment
/// convention and the printer follow from this table.
/// </summary>
internal static class ConfigSchema
{
    /// <summary>Upper bound of <c>queue.expires</c>: the broker's <c>x-expires</c> is milliseconds in a signed 32-bit field.</summary>
    public const int MaxExpiresSeconds = int.MaxValue / 1000;

    public static IReadOnlyList<ConfigKey> Keys { get; } =
    [
        ConfigKey.Text("server.address", o => o.Server.Address, (o, v) => o.Server.Address = v, ListenAddress.Check),
        ConfigKey.Text("server.path", o => o.Server.Path, (o, v) => o.Server.Path = v, ConfigRules.UrlPath),
        ConfigKey.Number("server.heartbeat", o => o.Server.HeartbeatSeconds, (o, v) => o.Server.HeartbeatSeconds = v, 0, 3600),
        ConfigKey.Number("server.shutdown_timeout", o => o.Server.ShutdownTimeoutSeconds, (o, v) => o.Server.ShutdownTimeoutSeconds = v, 0, 3600),
        ConfigKey.Number("server.write_timeout", o => o.Server.WriteTimeoutSeconds, (o, v) => o.Server.WriteTimeoutSeconds = v, 1, 3600),
        ConfigKey.List("broker.node", o => o.Broker.Node, (o, v) => o.Broker.Node = v, ConfigRules.BrokerNode, ConfigRules.MaskBrokerNode),
        ConfigKey.Number("broker.reconnect_max", o => o.Broker.ReconnectMaxSeconds, (o, v) => o.Broker.ReconnectMaxSeconds = v, 1, 3600),
        ConfigKey.Text("queue.pattern", o => o.Queue.Pattern, (o, v) => o.Queue.Pattern = v, ConfigRules.Pattern),
        ConfigKey.Number("queue.expires", o => o.Queue.ExpiresSeconds, (o, v) => o.Queue.ExpiresSeconds = v, 0, MaxExpiresSeconds) with { Aliases = ["expire"] },
        ConfigKey.Number("queue.prefetch", o => o.Queue.Prefetch, (o, v) => o.Queue.Prefetch = v, 1, 65535),
        ConfigKey.Headers("header.cors", o => o.Header.Cors),
        ConfigKey.Headers("header.sse", o => o.Header.Sse),
        ConfigKey.Choice("log.level", o => o.Log.Level, (o, v) => o.Log.Level = v, "trace", "debug", "information", "warning", "error", "critical"),
        ConfigKey.Choice("log.format", o => o.Log.Format, (o, v) => o.Log.Format = v, "text", "json"),
        ConfigKey.Text("metrics.path", o => o.Metrics.Path, (o, v) => o.Metrics.Path = v, EndpointPath),
        ConfigKey.Text("metrics.debug_vars", o => o.Metrics.DebugVars, (o, v) => o.Metrics.DebugVars = v, EndpointPath),
        ConfigKey.Text("health.live", o => o.Health.Live, (o, v) => o.Health.Live = v, EndpointPath),
        ConfigKey.Text("health.ready", o => o.Health.Ready, (o, v) => o.Health.Ready = v, EndpointPath),
    ];

    /// <summary>
    /// Checks that involve several keys, on the effective configuration: the endpoint paths differ from
    /// <c>server.path</c> and from each other (ignoring case and a trailing <c>/</c>, as routing does).
    /// </summary>
    public static IEnumerable<ConfigProblem> CheckCombinations(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var where = new ConfigLocation("configuration", 0, false);
        var taken = new List<(string Key, string Path)> { ("server.path", options.Server.Path) };
        foreach (var (key, path) in EndpointPaths(options))
        {
            if (path.Length == 0)
            {
                continue;
            }

            if (taken.FirstOrDefault(t => SameRoute(t.Path, path)) is { Key: { } other })
            {
                yield return new ConfigProblem(where, key, $"{ConfigText.Quote(path)} is also {other}; give each endpoint its own path");
            }
            else
            {
                taken.Add((key, path));
            }
        }
    }

    /// <summary>The observability endpoints' keys and paths (empty: switched off).</summary>
    public static IEnumerable<(string Key, string Path)> EndpointPaths(GatewayOptions options) =>
    [
        ("metrics.path", options.Metrics.Path),
        ("metrics.debug_vars", options.Metrics.DebugVars),
        ("health.live", options.Health.Live),
        ("health.ready", options.Health.Ready),
    ];

    /// <summary>An endpoint path: empty (off), or an absolute URL path without route syntax.</summary>
    private static string? EndpointPath(string path) =>
        path.Length == 0 ? null
        : ConfigRules.UrlPath(path) is { } problem ? problem + " (or empty to switch the endpoint off)"
        : path.AsSpan().IndexOfAny('{', '}') >= 0 ? $"must not contain '{{' or '}}', got {ConfigText.Quote(path)}"
        : null;

    private static bool SameRoute(string a, string b) =>
        string.Equals(a.Length > 1 ? a.TrimEnd('/') : a, b.Length > 1 ? b.TrimEnd('/') : b, StringComparison.OrdinalIgnoreCase);
}
