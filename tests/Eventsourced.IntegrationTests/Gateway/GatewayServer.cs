using Eventsourced.Broker;
using Eventsourced.Configuration;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Gateway;

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

    public Uri BaseAddress { get; }

    public GatewayOptions Options { get; }

    /// <summary>One client with unbounded connections per server, as many browsers would be.</summary>
    public HttpClient Client { get; }

    internal BrokerPool Pool => _app.Services.GetRequiredService<BrokerPool>();

    public IServiceProvider Services => _app.Services;

    public static async Task<GatewayServer> StartAsync(string amqpUrl, Action<GatewayOptions>? configure = null)
    {
        var options = new GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Broker.Node = [amqpUrl];
        options.Server.HeartbeatSeconds = 0;
        options.Log.Level = "warning";
        configure?.Invoke(options);
        var app = GatewayApplication.Build(options);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new GatewayServer(app, new Uri(address), options);
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

    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _app.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        await _app.DisposeAsync();
    }
}
