using Eventsourced.Authentication;
using Eventsourced.Authorization;
using Eventsourced.Broker;
using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Health;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.LongPolling;
using Eventsourced.Limits;
using Microsoft.AspNetCore.Builder;
using Eventsourced.Metrics;
using Eventsourced.Presence;
using Eventsourced.Sse;
using Eventsourced.WebSockets;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.Extensions.DependencyInjection;

public static class EventsourcedServiceCollectionExtensions
{
    /// <summary>
    /// Registers the gateway in any ASP.NET Core application: its options bound from
    /// <paramref name="configuration"/> (the sections <c>server</c>, <c>broker</c>, <c>queue</c>, ... of
    /// <c>config.yml-dist</c>, e.g. <c>builder.Configuration.GetSection("Eventsourced")</c>), checked when the
    /// host starts; the broker pool (a hosted service), metrics, health checks and the endpoints that
    /// <c>MapEventsourced</c> maps. Calling it again adds nothing (one gateway per application); a call with other
    /// settings than the first's is logged at start with the keys that differ (event 160).
    /// </summary>
    public static IServiceCollection AddEventsourced(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(GatewayConfiguration)))
        {
            // The keys only the gateway's own program applies: said at start when set, instead of doing nothing without a word.
            var calls = new EmbeddedSettingsCheck.Calls(configuration);
            services.AddSingleton(calls);
            services.AddHostedService(sp => new EmbeddedSettingsCheck(configuration, sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>(), calls, () =>
            {
                try
                {
                    return GatewayOptionsValidator.ChangedInCode(sp.GetRequiredService<GatewayConfiguration>().Loaded, sp.GetRequiredService<IOptions<GatewayOptions>>().Value);
                }
                catch (OptionsValidationException)
                {
                    return new HashSet<string>(); // the start fails on the problems themselves
                }
            }));
        }
        else if (services.LastOrDefault(d => d.ServiceType == typeof(EmbeddedSettingsCheck.Calls))?.ImplementationInstance is EmbeddedSettingsCheck.Calls calls)
        {
            // Registered once: a later call with other settings is said at start, not dropped without a word.
            calls.CalledAgain(configuration);
        }

        return services.AddEventsourced(new GatewayConfiguration(() => ConfigLoader.Read(configuration)));
    }

    /// <summary>Registers the gateway with a configuration loaded by <see cref="ConfigLoader"/> (the executable's way).</summary>
    public static IServiceCollection AddEventsourced(this IServiceCollection services, LoadedConfig configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddEventsourced(new GatewayConfiguration(() => configuration));
    }

    private static IServiceCollection AddEventsourced(this IServiceCollection services, GatewayConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(GatewayConfiguration)))
        {
            return services;
        }

        services.AddSingleton(configuration);
        services.AddOptions<GatewayOptions>().ValidateOnStart();
        services.AddSingleton<IConfigureOptions<GatewayOptions>, GatewayOptionsSetup>();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        // Each service takes its own section, never the whole configuration.
        AddSection(services, o => o.Server);
        AddSection(services, o => o.Broker);
        AddSection(services, o => o.Queue);
        AddSection(services, o => o.Topics);
        AddSection(services, o => o.Header);
        AddSection(services, o => o.Auth);
        AddSection(services, o => o.Sse);
        AddSection(services, o => o.Ws);
        AddSection(services, o => o.Poll);
        AddSection(services, o => o.Events);
        AddSection(services, o => o.Log);
        AddSection(services, o => o.Metrics);
        AddSection(services, o => o.Health);
        AddSection(services, o => o.Limits);

        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton<BrokerPool>();
        AddObservability(services);
        // The pool is itself the hosted service: started after the observability listeners, stopped after the
        // web server (hosted services stop in reverse order), so streams release their channels first.
        services.AddHostedService(sp => sp.GetRequiredService<BrokerPool>());
        services.TryAddSingleton<ShutdownDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<ShutdownDrain>());
        services.TryAddSingleton<SubscriptionSettings>();
        services.TryAddSingleton<SubscriberAuthenticator>();
        services.TryAddSingleton<SubscriberPermissions>();
        services.TryAddSingleton<OriginPolicy>();
        services.TryAddSingleton(sp => new ClientStreams(sp.GetRequiredService<IOptions<LimitsOptions>>().Value.StreamsPerClient));
        services.TryAddSingleton<SubscriptionGate>();
        services.TryAddSingleton<MessageLimits>();
        services.TryAddSingleton<QueueTarget>();
        // Topics' feeds close when the hub stops: after the web server (streams ended), before the pool.
        services.TryAddSingleton<TopicHub>();
        services.AddHostedService(sp => sp.GetRequiredService<TopicHub>());
        services.TryAddSingleton<TopicTarget>();
        // The presence events of the streams that ended at shutdown go out before the pool closes the connections.
        services.TryAddSingleton<PresencePublisher>();
        services.AddHostedService(sp => sp.GetRequiredService<PresencePublisher>());
        services.TryAddSingleton<MappedEndpoints>();
        services.TryAddSingleton<SseEndpoint>();
        services.TryAddSingleton<WebSocketPublisher>();
        services.TryAddSingleton<PublishRateLimits>();
        services.TryAddSingleton<WebSocketEndpoint>();
        services.TryAddSingleton<WebSocketRefusal>();
        services.TryAddSingleton<PollEndpoint>();
        // Per-client limits through ASP.NET Core's rate limiting: a named policy (never the application's global
        // limiter or OnRejected), required by the stream endpoints when a limit is on; the pipeline needs UseRateLimiter.
        services.TryAddSingleton<SubscribeRateLimitPolicy>();
        services.AddRateLimiter(limiter => limiter.AddPolicy<string, SubscribeRateLimitPolicy>(SubscribeRateLimitPolicy.Name));
        return services;
    }

    /// <summary>
    /// A section's options (<c>IOptions&lt;QueueOptions&gt;</c>), taken from the checked <see cref="GatewayOptions"/>. What the
    /// application configures for the section's type in code (<c>services.Configure&lt;QueueOptions&gt;(...)</c>,
    /// <c>PostConfigure</c>, before or after <c>AddEventsourced</c>) applies to it after the configuration is bound, and is
    /// checked with the rest: those calls did nothing before, without a word.
    /// </summary>
    private static void AddSection<TSection>(IServiceCollection services, Func<GatewayOptions, TSection> section)
        where TSection : class
    {
        services.TryAddSingleton<IOptions<TSection>>(sp => Options.Options.Create(section(sp.GetRequiredService<IOptions<GatewayOptions>>().Value)));
        services.AddSingleton<IPostConfigureOptions<GatewayOptions>>(sp => new PostConfigureOptions<GatewayOptions>(Options.Options.DefaultName, gateway =>
        {
            var options = section(gateway);
            foreach (var configure in sp.GetServices<IConfigureOptions<TSection>>())
            {
                if (configure is IConfigureNamedOptions<TSection> named)
                {
                    named.Configure(Options.Options.DefaultName, options);
                }
                else
                {
                    configure.Configure(options);
                }
            }

            foreach (var postConfigure in sp.GetServices<IPostConfigureOptions<TSection>>())
            {
                postConfigure.PostConfigure(Options.Options.DefaultName, options);
            }
        }));
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
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ListenerMatcherPolicy>());
        services.TryAddSingleton<BrokerReadinessCheck>();
        // Not among the application's health checks: its own health endpoints do not run the gateway's. AddHealthChecks stays
        // for applications that map their own without calling it (it used to come with the gateway's check).
        services.TryAddSingleton<GatewayHealthChecks>();
        services.AddHealthChecks();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ObservabilityStartup>());
    }
}
