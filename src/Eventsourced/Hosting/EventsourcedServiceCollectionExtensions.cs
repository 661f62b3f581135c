using Eventsourced.Broker;
using Eventsourced.Hosting;
using Eventsourced.Configuration;
using Eventsourced.Metrics;
using Eventsourced.Streaming;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.Extensions.DependencyInjection;

public static class EventsourcedServiceCollectionExtensions
{
    /// <summary>Registers the gateway: broker pool (a hosted service), metrics and the stream endpoint.</summary>
    public static IServiceCollection AddEventsourced(this IServiceCollection services, GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton<BrokerPool>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BrokerPoolHostedService>());
        services.TryAddSingleton<StreamEndpoint>();
        return services;
    }
}
