using System.Diagnostics.Metrics;
using Eventsourced.Broker;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Eventsourced.Sockets;
using Eventsourced.Limits;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Hosting;

/// <summary>
/// The gateway as a program of its own: a web application with nothing but the gateway, configured only
/// by <paramref name="config"/>. The executable and the tests build it here.
/// </summary>
public static class GatewayApplication
{
    /// <exception cref="ConfigException">
    /// The options' checks, run again as the host starts, found a problem the loader had not: files named by the
    /// configuration (<c>server.tls</c>'s pair) changed in between, a renewal half written, say.
    /// </exception>
    public static WebApplication Build(LoadedConfig config, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        try
        {
            return BuildHost(config, configure);
        }
        catch (OptionsValidationException ex)
        {
            // Unhandled, this ended the process with a stack trace; it is a configuration problem like any other (exit 78).
            throw new ConfigException([.. ex.Failures]);
        }
        catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException
            && TlsFiles.Enabled(config.Options.Server) && TlsFiles.Check(config.Options, config.Origins).ToArray() is { Length: > 0 } problems)
        {
            // server.tls's pair, checked by the loader, no longer loads as the host takes it: a configuration problem, not a
            // crash (ArgumentException) nor "cannot listen" (IOException, exit 69).
            throw new ConfigException(problems);
        }
    }

    private static WebApplication BuildHost(LoadedConfig config, Action<WebApplicationBuilder>? configure)
    {
        var options = config.Options;
        // Before anything starts or logs: an address that cannot be had is one IOException naming key and reason.
        ListenProbe.ThrowIfUnavailable(options);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        // The slim builder reads appsettings.json, ASPNETCORE_* and DOTNET_* variables (a Kestrel section,
        // URLs): none of them may configure the gateway behind its documented sources.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddConfiguration(config.Configuration);
        var observabilityListener = options.Metrics.Address.Length > 0;
        var connectionCap = ConnectionCap.Effective(
            options.Limits.MaxConnections, out var fileLimit, out var fileLimitNeeded, observabilityListener ? ConnectionCap.ObservabilityConnections : 0);
        // A connection that sends nothing within the headers timeout is closed, on both listeners.
        var firstBytes = FirstBytesDeadline.Middleware(TimeSpan.FromSeconds(options.Limits.RequestHeadersTimeoutSeconds));
        // Each listener's connections are counted and the excess closed where they are accepted (see GatedListenerFactory).
        var gates = new ListenerGates();
        builder.Services.AddSingleton<IConnectionListenerFactory>(services => new GatedListenerFactory(
            new SocketTransportFactory(services.GetRequiredService<IOptions<SocketTransportOptions>>(), services.GetRequiredService<ILoggerFactory>()),
            gates));
        ConnectionGate? clients = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            ApplyLimits(kestrel.Limits, options.Limits, connectionCap);
            kestrel.UseEventsourcedConnections(TimeSpan.FromSeconds(options.Server.WriteTimeoutSeconds));
            // limits.max_connections holds for the clients' listener as a whole (Kestrel's cap holds per bound address:
            // localhost binds two, and closes the excess after accepting more); metrics.address has a small cap of its own.
            // limits.connections_per_client: one address may not hold them all (ClientConnections).
            var perClient = options.Limits.ConnectionsPerClient > 0
                ? new ClientConnections(
                    options.Limits.ConnectionsPerClient,
                    options.Limits.TrustedProxies,
                    () => kestrel.ApplicationServices.GetRequiredService<RejectedConnectionsLog>().Rejected(RejectedConnectionsLog.PerClient),
                    options.Limits.Ipv6Prefix)
                : null;
            clients = connectionCap is not null || perClient is not null
                ? new ConnectionGate(
                    connectionCap ?? long.MaxValue,
                    () => kestrel.ApplicationServices.GetRequiredService<RejectedConnectionsLog>().Rejected(RejectedConnectionsLog.Clients),
                    perClient)
                : null;
            KestrelListen.Apply(kestrel, options.Server.Address, listen =>
            {
                if (clients is not null)
                {
                    gates.Add(listen.EndPoint, clients);
                }

                // Before TLS: a client hello counts as the first bytes (Kestrel's handshake timeout takes it from there).
                listen.Use(firstBytes);
                UseTls(listen, kestrel.ApplicationServices, TimeSpan.FromSeconds(options.Limits.RequestHeadersTimeoutSeconds));
            });
            if (observabilityListener)
            {
                var observability = new ConnectionGate(
                    ConnectionCap.ObservabilityConnections,
                    () => kestrel.ApplicationServices.GetRequiredService<RejectedConnectionsLog>().Rejected(RejectedConnectionsLog.Observability));
                KestrelListen.Apply(kestrel, options.Metrics.Address, listen =>
                {
                    gates.Add(listen.EndPoint, observability);
                    listen.Use(ObservabilityListener.Middleware());
                    listen.Use(firstBytes);
                });
            }
        });
        builder.Services.Configure<HostOptions>(host =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(options.Server.DrainDelaySeconds + options.Server.ShutdownTimeoutSeconds));
        ConfigureLogging(builder.Logging, options.Log);
        builder.Services.AddEventsourced(config);
        builder.Services.AddHostedService<ProcessSignals>();
        if (TlsFiles.Enabled(options.Server))
        {
            // Owned by the container: its file watchers end with the application.
            builder.Services.AddSingleton(services => new ServerCertificate(
                options.Server.Tls[TlsEntry.Certificate], options.Server.Tls[TlsEntry.Key],
                services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILoggerFactory>().CreateLogger("Eventsourced.Tls"),
                services.GetRequiredService<GatewayMetrics>()));
        }
        configure?.Invoke(builder);

        builder.Services.AddSingleton(services => new RejectedConnectionsLog(
            services.GetRequiredService<IMeterFactory>(),
            services.GetRequiredService<ILoggerFactory>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<GatewayMetrics>(),
            RejectedConnectionsLog.Describe(connectionCap),
            options.Limits.ConnectionsPerClient));
        builder.Services.AddSingleton(services => new Http2AbortsLog(
            services.GetRequiredService<IMeterFactory>(),
            services.GetRequiredService<ILoggerFactory>(),
            services.GetRequiredService<TimeProvider>()));
        var app = builder.Build();
        if (TlsFiles.Enabled(options.Server))
        {
            // First: a request counts as open on its HTTP/2 connection for as long as it runs (Http2IdleConnections).
            app.Use(Http2IdleConnections.Requests);
        }

        // Listening before Kestrel starts; disposed with the application's services.
        _ = app.Services.GetRequiredService<RejectedConnectionsLog>();
        _ = app.Services.GetRequiredService<Http2AbortsLog>();
        if (options.Limits.TrustedProxies.Count > 0)
        {
            // Before the rate limiter: the client a trusted proxy forwarded for is the one that is counted.
            app.UseForwardedHeaders(ProxyAddress.ForwardedHeaders(options.Limits.TrustedProxies));
        }

        app.UseRateLimiter();
        if (observabilityListener)
        {
            // metrics.address's 64 connections are for scrapes and probes, which connect afresh each time: a connection
            // kept alive after its answer (Kestrel keeps an idle one 130 s) would hold one of them, and 64 such held by
            // anyone who reaches the address failed the liveness probes there. HTTP/2 has no Connection header.
            app.Use((context, next) =>
            {
                if (ObservabilityListener.Serves(context) && HttpProtocol.IsHttp11(context.Request.Protocol))
                {
                    context.Response.Headers.Connection = "close";
                }

                return next(context);
            });
        }

        // A path no endpoint serves (with an exact server.path, or on metrics.address) gets a 404 that says so, with the CORS
        // headers, as every other refusal does, instead of an empty one. Routing ran before this (WebApplication puts it
        // first): a path served with another method still gets its 405, with its reason.
        app.Use(UnservedRequests.HandleAsync);
        app.MapEventsourcedObservability();
        app.MapEventsourced();
        app.MapEventsourcedTopics();
        if (options.Ws.Path.Length > 0)
        {
            app.MapEventsourcedWebSockets();
        }

        if (options.Poll.Path.Length > 0)
        {
            app.MapEventsourcedLongPolling();
        }
        AnnounceLifecycle(app, options, config.FilesRead, config.Origins, () => clients?.Open ?? 0);
        var hostingLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Eventsourced");
        if (fileLimitNeeded is { } needed)
        {
            HostingLog.ConnectionLimitLowered(hostingLogger, options.Limits.MaxConnections, fileLimit ?? 0, connectionCap ?? 0, needed);
        }
        else if (options.Limits.MaxConnections == 0 && fileLimit is { } limit && connectionCap < ConnectionCap.FewConnections)
        {
            HostingLog.FileLimitLow(
                hostingLogger,
                limit,
                connectionCap ?? 0,
                ConnectionCap.Needed(ConnectionCap.WantedConnections, observabilityListener ? ConnectionCap.ObservabilityConnections : 0),
                ConnectionCap.WantedConnections);
        }

        HostingLog.ConnectionLimit(
            hostingLogger,
            RejectedConnectionsLog.Describe(connectionCap),
            fileLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown",
            options.Limits.ConnectionsPerClient > 0
                ? options.Limits.ConnectionsPerClient.ToString(System.Globalization.CultureInfo.InvariantCulture) + " (limits.connections_per_client)"
                : "any");
        return app;
    }

    /// <summary>
    /// With <c>server.tls</c>: HTTPS with HTTP/2 (negotiated by ALPN) and HTTP/1.1, each handshake presenting the
    /// current <see cref="ServerCertificate"/>. The connection middleware of <c>UseEventsourcedConnections</c> sits
    /// outside TLS (added first), so it counts the encrypted bytes the peer's TCP acknowledges.
    /// </summary>
    private static void UseTls(ListenOptions listen, IServiceProvider services, TimeSpan idle)
    {
        if (services.GetService<ServerCertificate>() is not { } certificate)
        {
            return;
        }

        listen.Protocols = HttpProtocols.Http1AndHttp2;
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => certificate.Current,
        });
        // After TLS, where HTTP/2's frames are plain: where each stream's bytes went out (Http2StreamAcknowledgements).
        listen.UseEventsourcedHttp2();
        // An HTTP/2 connection without a request is closed after limits.request_headers_timeout even while it pings.
        listen.Use(Http2IdleConnections.Middleware(idle, services.GetRequiredService<TimeProvider>()));
    }

    /// <summary>Kestrel's limits from the <c>limits</c> section (the rest keep Kestrel's defaults).</summary>
    private static void ApplyLimits(KestrelServerLimits kestrel, LimitsOptions limits, long? connectionCap)
    {
        kestrel.MaxConcurrentConnections = connectionCap;
        kestrel.MaxRequestLineSize = limits.MaxRequestLineBytes;
        kestrel.MaxRequestHeadersTotalSize = limits.MaxRequestHeaderBytes;
        kestrel.MaxRequestHeaderCount = limits.MaxRequestHeaders;
        kestrel.RequestHeadersTimeout = TimeSpan.FromSeconds(limits.RequestHeadersTimeoutSeconds);
        // A connection between requests (HTTP/1.1 keep-alive, HTTP/2 without a stream) is as idle as one that has sent nothing
        // yet: held for Kestrel's 130 s, one request per connection kept max_connections full for two minutes at a time.
        kestrel.KeepAliveTimeout = kestrel.RequestHeadersTimeout;
        // HTTP/2 compresses headers: one field may not exceed what the whole head may hold.
        kestrel.Http2.MaxRequestHeaderFieldSize = Math.Min(kestrel.Http2.MaxRequestHeaderFieldSize, limits.MaxRequestHeaderBytes);
    }

    /// <summary>A gateway configured in code: the options go through the same binding and checks as configuration files.</summary>
    /// <exception cref="InvalidOperationException">The options break a rule of the configuration (every problem in the message).</exception>
    public static WebApplication Build(GatewayOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        var config = ConfigLoader.Read(ConfigFlattener.ToConfiguration(options));
        return config.Problems.Count == 0
            ? Build(config, configure)
            : throw new InvalidOperationException("invalid gateway options:\n" + string.Join('\n', config.Problems));
    }

    /// <summary>
    /// Says why the gateway cannot listen (the <see cref="IOException"/> that <see cref="Build(LoadedConfig, Action{WebApplicationBuilder}?)"/>
    /// throws before anything starts) as the configured logs would: with <c>log.format: json</c>, one JSON line that a log
    /// pipeline parses like every other (event 124, critical); a plain line on stderr would be dropped or mangled there.
    /// </summary>
    internal static void LogCannotListen(LogOptions log, string reason)
    {
        // Disposing the factory drains the console logger's queue before the process exits.
        using var loggers = LoggerFactory.Create(logging => ConfigureLogging(logging, log));
        HostingLog.CannotListen(loggers.CreateLogger("Eventsourced"), reason);
    }

    /// <summary>
    /// Whether the exit-78 problems of <paramref name="config"/> are to be told as JSON log entries: <c>log.format</c> was read
    /// as <c>json</c> (from a file or the environment) and is not itself one of the problems.
    /// </summary>
    internal static bool LogsConfigurationProblemsAsJson(LoadedConfig config) =>
        config.Options.Log.IsJson
        && !config.Problems.Any(p => string.Equals(p.Key, "log.format", StringComparison.Ordinal));

    /// <summary>
    /// Says what is wrong with the configuration (exit 78) as the configured JSON logs would: one JSON line per problem
    /// (event 151, critical), its <c>State</c> naming <c>File</c> and <c>Line</c> (or <c>Variable</c>), <c>Key</c> and
    /// <c>Problem</c>, so a log pipeline parses it like every other line. Whatever <c>log.level</c> says: the gateway stops.
    /// </summary>
    internal static void LogConfigurationProblems(LoadedConfig config) => LogConfigurationProblems(config.Problems);

    /// <summary>
    /// The same for the problems found as the host starts (<see cref="Build(LoadedConfig, Action{WebApplicationBuilder}?)"/>'s
    /// <see cref="ConfigException"/>: the <c>server.tls</c> pair changed after the loader's check).
    /// </summary>
    internal static void LogConfigurationProblems(ConfigException exception) =>
        LogConfigurationProblems(Detailed(exception));

    private static void LogConfigurationProblems(IEnumerable<ConfigProblem> problems)
    {
        using var loggers = LoggerFactory.Create(logging => ConfigureLogging(logging, new LogOptions { Format = "json", Level = "critical" }));
        LogConfigurationProblems(loggers.CreateLogger("Eventsourced"), problems);
    }

    /// <summary>One critical entry of event 151 per problem, its state naming place, key and problem.</summary>
    internal static void LogConfigurationProblems(ILogger logger, IEnumerable<ConfigProblem> problems)
    {
        foreach (var problem in problems)
        {
            logger.Log(LogLevel.Critical, new EventId(EventIds.ConfigurationInvalid, "ConfigurationInvalid"), new ConfigProblemLogState(problem), null, (s, _) => s.ToString());
        }
    }

    /// <summary>The problems of <paramref name="exception"/> with their places, or each line whole when it has none.</summary>
    internal static IReadOnlyList<ConfigProblem> Detailed(ConfigException exception) =>
        exception.Details ?? [.. exception.Problems.Select(p => new ConfigProblem(ConfigLocation.Combination, null, p))];

    private static void ConfigureLogging(ILoggingBuilder logging, LogOptions log)
    {
        logging.ClearProviders();
        if (log.IsJson)
        {
            logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }

        var level = Enum.Parse<LogLevel>(log.Level, ignoreCase: true);
        logging.SetMinimumLevel(level);
        // The framework's per-request chatter is noise at information level for a streaming server.
        var framework = level > LogLevel.Warning ? level : LogLevel.Warning;
        logging.AddFilter("Microsoft.AspNetCore", framework);
        // A warning per connection closed at limits.max_connections, as fast as a client opens them: RejectedConnectionsLog sums them up.
        logging.AddFilter(RejectedConnectionsLog.KestrelCategory, l => RejectedConnectionsLog.KestrelLevelLogged(l, framework));
        // Critical lines, several per HTTP/2 connection a client floods with stream resets, as fast as it opens them: Http2AbortsLog sums them up.
        logging.AddFilter(Http2AbortsLog.KestrelCategory, l => Http2AbortsLog.KestrelLevelLogged(l, framework));
        logging.AddFilter("Microsoft.Hosting.Lifetime", level);
        // Request start/finish lines only, and never wanted: they carry the whole URL, a query token with it (the
        // gateway logs its own lines without the query). While this category is enabled at all, ASP.NET also opens a
        // log scope and an Activity for every request, held for a stream's whole life (about 0.7 KB each, make bench hold).
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // Every failing readiness probe would log an error; the broker pool already logs the outage itself.
        logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", level > LogLevel.Debug ? LogLevel.Critical : level);
    }

    /// <summary>
    /// With tokens, a token authorizes a queue's name, not what the queue is bound to: a <c>queue.bind</c> entry taking a
    /// query or cookie value the queue's name does not carry (or carries only beside a claim, which authorizes the name by
    /// itself) lets a subscriber bind its own queue to any routing key, another user's private messages included.
    /// </summary>
    private static void WarnOfBindsByRequestValues(ILogger logger, GatewayOptions options)
    {
        var pattern = Naming.QueuePattern.Parse(options.Queue.Pattern);
        if (!pattern.UsesClaims && !(options.Auth.ReadClaims.TryGetValue(Consuming.QueueTarget.KindName, out var claim) && claim.Length > 0))
        {
            return; // any valid token reads any queue: a binding gives it nothing it could not read anyway
        }

        var named = RequestValues(pattern.Segments).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in options.Queue.Bind)
        {
            var binding = Consuming.QueueBinding.Parse(entry);
            var free = RequestValues(binding.Exchange.Segments.Concat(binding.RoutingKey.Segments))
                .FirstOrDefault(p => pattern.UsesClaims || !named.Contains(p));
            if (free is not null)
            {
                HostingLog.BindTakesRequestValues(logger, entry, free, options.Queue.Pattern,
                    pattern.UsesClaims ? "takes the queue's name from the token" : "does not contain it");
            }
        }

        // The placeholders a request fills in (${query:x}, ${cookie:x}), as written in the configuration.
        static IEnumerable<string> RequestValues(IEnumerable<Naming.PatternSegment> segments) => segments
            .Where(s => s.Kind is Naming.PatternSegmentKind.Query or Naming.PatternSegmentKind.Cookie)
            .Select(s => s.ToString());
    }

    private static void AnnounceLifecycle(WebApplication app, GatewayOptions options, IReadOnlyList<string> configFiles, ConfigOrigins origins, Func<long> openConnections)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Eventsourced");
        HostingLog.Starting(logger, GatewayVersion.Current, options.Server.Path, options.Queue.Pattern, options.Broker.Node.Count);
        HostingLog.ConfigFilesRead(logger, configFiles.Count > 0 ? string.Join(", ", configFiles) : "(defaults and environment only)");
        if (!options.Auth.Jwt.HasKeys && !ListenAddress.IsLoopback(options.Server.Address))
        {
            HostingLog.Unauthenticated(logger, options.Server.Address);
        }

        if (Limits.ProxyAddress.TrustingEveryone(options.Limits.TrustedProxies) is { } everyone)
        {
            HostingLog.TrustedProxiesEveryone(logger, everyone);
        }

        // With tokens, queues are private to their holders; topics that can take any queue's name undo that. Without
        // tokens anyone reads any queue they can name anyway (warned above beyond loopback).
        if (options.Auth.Jwt.HasKeys && options.Topics.Path.Length > 0 && app.Services.GetRequiredService<TopicHub>().SharesNamesWithQueues)
        {
            HostingLog.TopicsShareQueueNames(logger, options.Queue.Pattern);
        }

        if (options.Auth.Jwt.HasKeys)
        {
            WarnOfBindsByRequestValues(logger, options);
        }

        // Once, at start: a header.cors written for 0.1.0 replaces the default Access-Control-Allow-Headers without a word.
        if (AllowHeadersCheck.Missing(options) is { Count: > 0 } missing)
        {
            HostingLog.CorsHeadersNotAllowed(logger, AllowHeadersCheck.Key, origins.Of("header:cors:" + AllowHeadersCheck.Header).ToString(), string.Join(" and ", missing));
        }

        foreach (var header in app.Services.GetRequiredService<SseEndpoint>().IgnoredHeaders)
        {
            HostingLog.HeaderIgnored(logger, header);
        }

        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        var drain = app.Services.GetRequiredService<ShutdownDrain>();
        drain.Draining.Register(() => HostingLog.Stopping(logger, options.Server.DrainDelaySeconds, options.Server.ShutdownTimeoutSeconds));
        // Client connections still open when the shutdown timeout runs out (Kestrel closes idle ones at once) are cut,
        // a stream's end unwritten: say how many, or the log reads like a clean shutdown.
        drain.TimedOut.Register(() =>
        {
            var open = openConnections();
            if (open > 0)
            {
                // A stream whose end was written but whose channel's close the broker has not answered (a frozen node, event
                // 210) holds its request open too: its client is not to blame.
                var waiting = app.Services.GetRequiredService<BrokerPool>().ChannelClosesWaiting;
                const string NotReading = "a stream's end unwritten (clients not reading?)";
                var why = waiting <= 0
                    ? NotReading
                    : $"{waiting} stream(s) having written their end and waiting for the broker to answer their channel's close (see events 210 and 211)"
                        + (waiting < open ? $", the others {NotReading}" : string.Empty);
                HostingLog.StreamsCutAtShutdown(logger, open, options.Server.ShutdownTimeoutSeconds, why);
            }
        });
        lifetime.ApplicationStopped.Register(() => HostingLog.Stopped(logger));
    }
}
