using Eventsourced.Configuration;
using Eventsourced.Health;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.AspNetCore.Builder;

public static class EventsourcedEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the SSE stream at <c>server.path</c>. A path ending in <c>/</c> also serves every path below it
    /// that no other endpoint claims (the original served "/" for every path).
    /// </summary>
    public static IEndpointConventionBuilder MapEventsourced(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<GatewayOptions>();
        var stream = endpoints.ServiceProvider.GetRequiredService<SseEndpoint>();
        var path = options.Server.Path;
        var pattern = path.EndsWith('/') ? path + "{**rest}" : path;
        MapObservability(endpoints, options);
        return endpoints.Map(pattern, stream.HandleAsync).WithDisplayName("eventsourced stream");
    }

    /// <summary>
    /// <c>metrics.path</c>, <c>metrics.debug_vars</c>, <c>health.live</c> and <c>health.ready</c>, each unless
    /// switched off (empty). Literal routes, so they take precedence over a catch-all stream path, and only at their
    /// exact spelling (<see cref="ExactPathMatcherPolicy"/>): <c>/METRICS</c> or <c>/metrics/</c> is just another
    /// path. <c>/metrics</c> is prometheus-net's exporter over the gateway's own registry, in the Prometheus text format (OpenMetrics is
    /// not offered), never cached, one connection per scrape.
    /// </summary>
    private static void MapObservability(IEndpointRouteBuilder endpoints, GatewayOptions options)
    {
        if (ConfigSchema.CheckCombinations(options).FirstOrDefault() is { } problem)
        {
            throw new InvalidOperationException($"invalid endpoint paths: {problem}");
        }

        var services = endpoints.ServiceProvider;
        if (options.Metrics.Path.Length > 0)
        {
            var exporter = new MetricServerMiddleware.Settings
            {
                Registry = services.GetRequiredKeyedService<CollectorRegistry>(GatewayMetrics.RegistryKey),
                EnableOpenMetrics = false,
            };
            var exposition = endpoints.CreateApplicationBuilder()
                .Use(next => context =>
                {
                    context.Response.Headers.CacheControl = "no-store";
                    // A new connection per scrape keeps the exported Kestrel and hosting series alive (FrameworkMetersExport.ExpireAfter).
                    context.Response.Headers.Connection = "close";
                    return next(context);
                })
                .UseMiddleware<MetricServerMiddleware>(exporter)
                .Build();
            endpoints.MapMethods(options.Metrics.Path, [HttpMethods.Get, HttpMethods.Head], exposition)
                .WithMetadata(new ExactPathMetadata(options.Metrics.Path))
                .WithDisplayName("eventsourced metrics");
        }

        if (options.Metrics.DebugVars.Length > 0)
        {
            endpoints.MapMethods(options.Metrics.DebugVars, [HttpMethods.Get, HttpMethods.Head], services.GetRequiredService<DebugVarsEndpoint>().HandleAsync)
                .WithMetadata(new ExactPathMetadata(options.Metrics.DebugVars))
                .WithDisplayName("eventsourced debug vars");
        }

        if (options.Health.Live.Length > 0)
        {
            endpoints.MapHealthChecks(options.Health.Live, new HealthCheckOptions
            {
                Predicate = _ => false,
                ResponseWriter = HealthResponseWriter.WriteAsync,
            }).WithMetadata(new ExactPathMetadata(options.Health.Live)).WithDisplayName("eventsourced liveness");
        }

        if (options.Health.Ready.Length > 0)
        {
            endpoints.MapHealthChecks(options.Health.Ready, new HealthCheckOptions
            {
                Predicate = check => check.Tags.Contains(BrokerReadinessCheck.Tag),
                ResponseWriter = HealthResponseWriter.WriteAsync,
            }).WithMetadata(new ExactPathMetadata(options.Health.Ready)).WithDisplayName("eventsourced readiness");
        }
    }
}
