using Eventsourced.Broker;
using Eventsourced.Health;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Metrics;

/// <summary>
/// Starts the export of the runtime, Kestrel and hosting meters before anything is measured (it is registered
/// ahead of the broker pool, and hosted services start in order, before the web server), then declares the
/// bounded series at zero and has the memory series read at every scrape.
/// </summary>
internal sealed class ObservabilityStartup(
    IServiceProvider services, IOptions<MetricsOptions> metricsOptions, IOptions<HealthOptions> health, IOptions<BrokerOptions> broker,
    IOptions<Limits.LimitsOptions> limits,
    GatewayMetrics metrics, MappedEndpoints mapped, ILogger<ObservabilityStartup> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = metricsOptions.Value;
        if (options.Path.Length > 0)
        {
            _ = services.GetRequiredService<FrameworkMetersExport>();
        }

        var nodes = broker.Value.Node.Select(url => BrokerUrl.TryParse(url, out var parsed) ? parsed.Endpoint : null).OfType<string>();
        metrics.DeclareSeries(nodes);
        metrics.WatchMemory(limits.Value.MaxMemoryPercent);
        if (services.GetService<BrokerPool>() is { } pool)
        {
            metrics.WatchConnections(nodes, () => Connections(pool));
        }

        // An application embedding the gateway maps them itself, or not: then saying where they are would send probes and
        // scrapers to 404s.
        if (mapped.Observability)
        {
            // Once the web server has started, its endpoints registered with routing: built then rather than at the first request, so
            // that the log names the paths as mapped (below a group: /push/metrics).
            services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
            {
                var endpoints = services.GetService<EndpointDataSource>()?.Endpoints ?? [];
                MetricsLog.Endpoints(
                    logger, Show(mapped, endpoints, "metrics.path", options.Path), Show(mapped, endpoints, "metrics.debug_vars", options.DebugVars),
                    Show(mapped, endpoints, "health.live", health.Value.Live), Show(mapped, endpoints, "health.ready", health.Value.Ready));
            });
        }
        else
        {
            MetricsLog.NotMapped(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Every connection of <paramref name="pool"/>, of every kind, as <c>eventsourced_broker_connections_held</c> counts them.</summary>
    private static IEnumerable<(string Node, string Kind, bool Up)> Connections(BrokerPool pool) =>
        pool.Slots.Select(s => (s.Node, ConnectionKinds.Subscribers, s.IsUp))
            .Concat(pool.StreamSlots.Select(s => (s.Node, ConnectionKinds.Streams, s.IsUp)))
            .Concat(pool.PublisherSlots.Select(s => (s.Node, ConnectionKinds.Publisher, s.IsUp)));

    /// <summary>
    /// Where the endpoint of <paramref name="key"/> answers; where the application maps a literal route of its own at the same path
    /// (prometheus-net's <c>MapMetrics()</c>), that one answers there (<see cref="ExactPathMatcherPolicy"/>), which the log says
    /// from the start rather than naming the path as the gateway's until the first request there logs event 118.
    /// </summary>
    private static string Show(MappedEndpoints mapped, IReadOnlyList<Endpoint> endpoints, string key, string path)
    {
        if (path.Length == 0)
        {
            return "(off)";
        }

        var shown = mapped.ObservabilityPath(key, path);
        return endpoints.Any(e => IsApplicationsAt(e, shown))
            ? $"{shown} (the application's own endpoint answers there: give {key} another path)"
            : shown;
    }

    /// <summary>Whether <paramref name="endpoint"/> is a literal GET route of the application's at <paramref name="path"/>, as routing matches it.</summary>
    private static bool IsApplicationsAt(Endpoint endpoint, string path) =>
        ExactPathMatcherPolicy.IsApplicationsLiteralRoute(endpoint)
        && endpoint is RouteEndpoint { RoutePattern.RawText: { } route }
        && (endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is not { Count: > 0 } methods
            || methods.Contains(HttpMethods.Get, StringComparer.OrdinalIgnoreCase))
        && string.Equals("/" + route.Trim('/'), "/" + path.Trim('/'), StringComparison.OrdinalIgnoreCase);
}
