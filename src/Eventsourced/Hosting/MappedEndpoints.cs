using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Eventsourced.Hosting;

/// <summary>
/// Where the application mapped the gateway's WebSocket, long-poll and topic endpoints (a group's prefix included), for the
/// reasons that send a client there. The gateway's own program maps them at <c>ws.path</c>, <c>poll.path</c> and
/// <c>topics.path</c>; an application embedding the gateway maps what it likes, where it likes, and the reasons named the
/// configured paths even where nothing was served.
/// </summary>
internal sealed class MappedEndpoints
{
    private volatile string? _webSockets;
    private volatile string? _longPolls;
    private volatile string? _topics;
    private volatile bool _observability;
    private readonly ConcurrentDictionary<string, string> _observabilityPaths = new(StringComparer.Ordinal);

    /// <summary>The WebSocket endpoint's path (<c>/ws</c>, <c>/push/ws</c>), or null when none is mapped.</summary>
    public string? WebSockets => _webSockets;

    /// <summary>The long-poll endpoint's path, or null.</summary>
    public string? LongPolls => _longPolls;

    /// <summary>The path topics' names follow on the SSE topic endpoint (<c>/topics/</c>), or null.</summary>
    public string? Topics => _topics;

    /// <summary>Whether <c>MapEventsourcedObservability</c> was called (set at once, not when the endpoints are built).</summary>
    public bool Observability => _observability;

    public void ObservabilityMapped() => _observability = true;

    /// <summary>
    /// Records the path an observability endpoint was mapped at (<c>/push/metrics</c> below a group) under its configuration key
    /// (<c>metrics.path</c>), once the application's endpoints are built.
    /// </summary>
    public void ObservabilityAt(IEndpointConventionBuilder endpoint, string key) =>
        endpoint.Add(e => _observabilityPaths[key] = PathOf(e) ?? string.Empty);

    /// <summary>Where the endpoint of <paramref name="key"/> was mapped, or <paramref name="configured"/> when it is not built (yet).</summary>
    public string ObservabilityPath(string key, string configured) =>
        _observabilityPaths.TryGetValue(key, out var path) && path.Length > 0 ? path : configured;

    public void WebSocketsAt(IEndpointConventionBuilder endpoint) => endpoint.Add(e => _webSockets = PathOf(e));

    public void LongPollsAt(IEndpointConventionBuilder endpoint) => endpoint.Add(e => _longPolls = PathOf(e));

    public void TopicsAt(IEndpointConventionBuilder endpoint) => endpoint.Add(e => _topics = PathOf(e));

    /// <summary><paramref name="path"/> as a client sees it: below the request's path base (<c>UsePathBase</c>).</summary>
    public static string Public(HttpContext context, string path) => context.Request.PathBase.Add(path).Value ?? path;

    /// <summary>The literal start of the endpoint's route, up to a catch-all parameter: <c>/push/topics/</c> of <c>/push/topics/{**topic}</c>.</summary>
    private static string? PathOf(EndpointBuilder endpoint)
    {
        var raw = (endpoint as RouteEndpointBuilder)?.RoutePattern.RawText;
        if (raw is null)
        {
            return null;
        }

        var parameter = raw.IndexOf('{', StringComparison.Ordinal);
        var path = parameter < 0 ? raw : raw[..parameter];
        return path.StartsWith('/') ? path : "/" + path;
    }
}
