using Eventsourced.Broker;
using Eventsourced.Configuration;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Testing.Gateways;

/// <summary>A real gateway: Kestrel on a loopback port of its own, a real broker behind it.</summary>
public sealed class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _stopped;

    private GatewayServer(WebApplication app, Uri baseAddress, GatewayOptions options)
    {
        _app = app;
        BaseAddress = baseAddress;
        Options = options;
        Client = NewClient(baseAddress);
    }

    /// <summary><c>http://127.0.0.1:PORT/</c> (also when listening on every interface).</summary>
    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    public GatewayOptions Options { get; }

    /// <summary>One client with unbounded connections per server, as many browsers would be.</summary>
    public HttpClient Client { get; }

    internal BrokerPool Pool => _app.Services.GetRequiredService<BrokerPool>();

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a gateway on 127.0.0.1 (a free port unless <paramref name="configure"/> sets
    /// <c>server.address</c>) against <paramref name="amqpUrl"/>, heartbeats off unless configured.
    /// </summary>
    public static Task<GatewayServer> StartAsync(string amqpUrl, Action<GatewayOptions>? configure = null) =>
        StartAsync(amqpUrl, configure, null);

    /// <summary>
    /// As <see cref="StartAsync(string, Action{GatewayOptions}?)"/>; <paramref name="log"/>, if given, receives every
    /// entry from debug up, whatever <paramref name="configure"/> sets as the level.
    /// </summary>
    public static Task<GatewayServer> StartAsync(string amqpUrl, Action<GatewayOptions>? configure, CollectedLog? log)
    {
        var options = new GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Broker.Node = [amqpUrl];
        options.Server.HeartbeatSeconds = 0;
        options.Log.Level = "warning";
        configure?.Invoke(options);
        if (log is not null)
        {
            options.Log.Level = "debug";
        }

        return StartAsync(options, log);
    }

    /// <summary>Starts a gateway with <paramref name="options"/> as they are (e.g. from <see cref="ConfigLoader"/>).</summary>
    public static Task<GatewayServer> StartAsync(GatewayOptions options) => StartAsync(options, null);

    /// <summary>Starts a gateway with <paramref name="options"/>; <paramref name="log"/>, if given, receives every log entry.</summary>
    public static async Task<GatewayServer> StartAsync(GatewayOptions options, CollectedLog? log)
    {
        var app = GatewayApplication.Build(options, builder =>
        {
            if (log is not null)
            {
                builder.Logging.AddProvider(log);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GatewayServer(app, new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)), options);
    }

    public static HttpClient NewClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseCookies = false,
    })
    {
        BaseAddress = baseAddress,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Opens an SSE request and returns once the response headers are in.</summary>
    public Task<SseClient> SubscribeAsync(string pathAndQuery, CancellationToken cancellationToken = default) =>
        SseClient.OpenAsync(Client, pathAndQuery, null, cancellationToken);

    public Task<SseClient> SubscribeAsync(string pathAndQuery, Action<HttpRequestMessage> configure, CancellationToken cancellationToken = default) =>
        SseClient.OpenAsync(Client, pathAndQuery, configure, cancellationToken);

    /// <summary>The value of one unlabelled series of the gateway's <c>/metrics</c>.</summary>
    public async Task<double> MetricAsync(string series)
    {
        var text = await Client.GetStringAsync("/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no series {series} in /metrics");
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Opens a WebSocket (the gateway's <c>ws.path</c> and a query, e.g. <c>/ws?id=42</c>); a refusal is returned, not thrown.</summary>
    public Task<WebSocketClient> ConnectWebSocketAsync(string pathAndQuery, Action<System.Net.WebSockets.ClientWebSocketOptions>? configure = null, CancellationToken cancellationToken = default) =>
        WebSocketClient.ConnectAsync(BaseAddress, pathAndQuery, configure, cancellationToken);

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _app.StopAsync(bound.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        await _app.DisposeAsync();
    }
}
