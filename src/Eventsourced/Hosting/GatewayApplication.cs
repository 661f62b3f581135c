using Eventsourced.Configuration;
using Eventsourced.Http;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>Builds the gateway's web application from a loaded configuration: the executable and the tests share it.</summary>
public static class GatewayApplication
{
    public static WebApplication Build(GatewayOptions options, IReadOnlyList<string>? configFiles = null, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Twice the write timeout: a reader that is merely slow is ended by the gateway's own write
            // timeout first, with a proper close; the kernel's silent drop is for peers that are gone.
            var userTimeout = TcpUserTimeout.Middleware(TimeSpan.FromSeconds(2 * options.Server.WriteTimeoutSeconds));
            var countBytes = TransportByteCounter.Middleware();
            kestrel.ConfigureEndpointDefaults(listen => listen.Use(countBytes).Use(userTimeout));
            KestrelListen.Apply(kestrel, options.Server.Address);
        });
        builder.Services.Configure<HostOptions>(host =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(options.Server.ShutdownTimeoutSeconds));
        ConfigureLogging(builder.Logging, options.Log);
        builder.Services.AddEventsourced(options);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapEventsourced();
        AnnounceLifecycle(app, options, configFiles);
        return app;
    }

    private static void ConfigureLogging(ILoggingBuilder logging, LogOptions log)
    {
        logging.ClearProviders();
        if (string.Equals(log.Format, "json", StringComparison.OrdinalIgnoreCase))
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
        logging.AddFilter("Microsoft.AspNetCore", level > LogLevel.Warning ? level : LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", level);
        // Every failing readiness probe would log an error; the broker pool already logs the outage itself.
        logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", level > LogLevel.Debug ? LogLevel.Critical : level);
    }

    private static void AnnounceLifecycle(WebApplication app, GatewayOptions options, IReadOnlyList<string>? configFiles)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Eventsourced");
        HostingLog.Starting(logger, GatewayVersion.Current, options.Server.Path, options.Queue.Pattern, options.Broker.Node.Count);
        HostingLog.ConfigFilesRead(logger, configFiles is { Count: > 0 } ? string.Join(", ", configFiles) : "(defaults and environment only)");
        foreach (var header in app.Services.GetRequiredService<SseEndpoint>().IgnoredHeaders)
        {
            HostingLog.HeaderIgnored(logger, header);
        }

        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() => HostingLog.Stopping(logger, options.Server.ShutdownTimeoutSeconds));
        lifetime.ApplicationStopped.Register(() => HostingLog.Stopped(logger));
    }
}
