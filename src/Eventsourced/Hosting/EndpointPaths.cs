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

    /// <summary>Endpoints that would share a path or listener, each reported at the place of a key that a source set.</summary>
    public static IEnumerable<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(origins);
        // Port 0 is a port of the kernel's choosing each time it is bound: two listeners on 127.0.0.1:0 get two ports.
        if (options.Metrics.Address.Length > 0 && string.Equals(options.Metrics.Address, options.Server.Address, StringComparison.OrdinalIgnoreCase)
            && !AnyPort(options.Metrics.Address))
        {
            yield return new ConfigProblem(origins.Of("metrics:address"), "metrics.address", $"{ConfigText.Quote(options.Metrics.Address)} is also server.address; give the observability endpoints a listener of their own, or leave it empty");
        }

        var taken = new List<(string Key, string Path)> { ("server.path", options.Server.Path) };
        foreach (var (key, path) in Transports(options).Concat(Observability(options)).Prepend(("topics.path", options.Topics.Path)))
        {
            if (path.Length == 0)
            {
                continue;
            }

            if (taken.FirstOrDefault(t => SameRoute(t.Path, path)) is { Key: { } other, Path: var otherPath })
            {
                // Named after the key a source set, at its place: a default is not what the user wrote.
                var (named, namedPath, also) = IsSet(origins, key) || !IsSet(origins, other) ? (key, path, other) : (other, otherPath, key);
                yield return new ConfigProblem(origins.Of(named.Replace('.', ':')), named, $"{ConfigText.Quote(namedPath)} is also {also}; give each endpoint its own path");
            }
            else
            {
                taken.Add((key, path));
            }
        }
    }

    private static bool IsSet(ConfigOrigins origins, string key) => origins.Of(key.Replace('.', ':')) != ConfigLocation.Options;

    private static bool SameRoute(string a, string b) =>
        string.Equals(a.Length > 1 ? a.TrimEnd('/') : a, b.Length > 1 ? b.TrimEnd('/') : b, StringComparison.OrdinalIgnoreCase);

    private static bool AnyPort(string address) =>
        int.TryParse(address.AsSpan(address.LastIndexOf(':') + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port == 0;
}
