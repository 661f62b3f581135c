using Eventsourced.Broker;
using Eventsourced.Configuration;
using Eventsourced.Health;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.Extensions.DependencyInjection;

public static class EventsourcedServiceCollectionExtensions
{
    /// <summary>Registers the gateway: broker pool (a hosted service), metrics, health checks and the stream endpoint.</summary>
    public static IServiceCollection AddEventsourced(this IServiceCollection services, GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton<BrokerPool>();
        AddObservability(services);
        // The pool is itself the hosted service: started after the observability listeners, stopped after the
        // web server (hosted services stop in reverse order), so streams release their channels first.
        services.AddHostedService(sp => sp.GetRequiredService<BrokerPool>());
        services.TryAddSingleton<SseEndpoint>();
        return services;
    }

    /// <summary>
    /// <c>/metrics</c>, <c>/debug/vars</c> and the health checks. The gateway's series live in a prometheus-net
    /// registry of its own (keyed <see cref="GatewayMetrics.RegistryKey"/>), never the static default one. Its hosted
    /// service must come before the broker pool's: the meter export has to exist before the first measurement.
    /// </summary>
    private static void AddObservability(IServiceCollection services)
    {
        services.TryAddKeyedSingleton(GatewayMetrics.RegistryKey, (_, _) => Prometheus.Metrics.NewCustomRegistry());
        services.TryAddSingleton<FrameworkMetersExport>();
        services.TryAddSingleton<DebugVarsEndpoint>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ExactPathMatcherPolicy>());
        services.TryAddSingleton<BrokerReadinessCheck>();
        services.AddHealthChecks();
        services.Configure<HealthCheckServiceOptions>(health =>
        {
            if (!health.Registrations.Any(r => r.Name == BrokerReadinessCheck.Name))
            {
                health.Registrations.Add(new HealthCheckRegistration(
                    BrokerReadinessCheck.Name, sp => sp.GetRequiredService<BrokerReadinessCheck>(), failureStatus: null, tags: [BrokerReadinessCheck.Tag]));
            }
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ObservabilityStartup>());
    }
}
