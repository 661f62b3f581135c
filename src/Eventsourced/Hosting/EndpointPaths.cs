using Eventsourced.Configuration;

namespace Eventsourced.Hosting;

/// <summary>
/// The paths the gateway serves must differ (ignoring case and a trailing <c>/</c>, as routing does): the
/// stream at <c>server.path</c>, the WebSocket and long-poll endpoints, and the observability endpoints. Checked once, with the rest of the
/// configuration, before anything is mapped.
/// </summary>
internal static class EndpointPaths
{
    /// <summary>The observability endpoints' keys and paths (empty: switched off).</summary>
    public static IEnumerable<(string Key, string Path)> Observability(GatewayOptions options) =>
    [
        ("metrics.path", options.Metrics.Path),
        ("metrics.debug_vars", options.Metrics.DebugVars),
        ("health.live", options.Health.Live),
        ("health.ready", options.Health.Ready),
    ];

    /// <summary>The other transports' keys and paths (empty: switched off).</summary>
    public static IEnumerable<(string Key, string Path)> Transports(GatewayOptions options) =>
    [
        ("ws.path", options.Ws.Path),
        ("poll.path", options.Poll.Path),
    ];

    public static IEnumerable<ConfigProblem> Check(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Metrics.Address.Length > 0 && string.Equals(options.Metrics.Address, options.Server.Address, StringComparison.OrdinalIgnoreCase))
        {
            yield return new ConfigProblem(ConfigLocation.Combination, "metrics.address", $"{ConfigText.Quote(options.Metrics.Address)} is also server.address; give the observability endpoints a listener of their own, or leave it empty");
        }

        var taken = new List<(string Key, string Path)> { ("server.path", options.Server.Path) };
        foreach (var (key, path) in Transports(options).Concat(Observability(options)).Prepend(("topics.path", options.Topics.Path)))
        {
            if (path.Length == 0)
            {
                continue;
            }

            if (taken.FirstOrDefault(t => SameRoute(t.Path, path)) is { Key: { } other })
            {
                yield return new ConfigProblem(ConfigLocation.Combination, key, $"{ConfigText.Quote(path)} is also {other}; give each endpoint its own path");
            }
            else
            {
                taken.Add((key, path));
            }
        }
    }

    private static bool SameRoute(string a, string b) =>
        string.Equals(a.Length > 1 ? a.TrimEnd('/') : a, b.Length > 1 ? b.TrimEnd('/') : b, StringComparison.OrdinalIgnoreCase);
}
