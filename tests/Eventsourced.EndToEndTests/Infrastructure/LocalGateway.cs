using Eventsourced.Configuration;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// A real gateway in this process (the library's own <see cref="GatewayApplication"/>, Kestrel on loopback),
/// configured through the same <see cref="GatewayOptions"/> a config file fills in.
/// </summary>
public sealed class LocalGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalGateway(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    /// <summary>
    /// Starts a gateway on 127.0.0.1 (a free port unless <paramref name="configure"/> sets
    /// <c>server.address</c>) against <paramref name="amqpUrl"/>, heartbeats off unless configured.
    /// </summary>
    public static Task<LocalGateway> StartAsync(string amqpUrl, Action<GatewayOptions>? configure = null)
    {
        var options = new GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Server.HeartbeatSeconds = 0;
        options.Broker.Node = [amqpUrl];
        options.Log.Level = "warning";
        configure?.Invoke(options);
        return StartAsync(options);
    }

    /// <summary>Starts a gateway with <paramref name="options"/> as they are (e.g. from <see cref="ConfigLoader"/>).</summary>
    public static async Task<LocalGateway> StartAsync(GatewayOptions options)
    {
        var app = GatewayApplication.Build(options);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LocalGateway(app, new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)));
    }

    public async ValueTask DisposeAsync()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await _app.StopAsync(bound.Token);
        await _app.DisposeAsync();
    }
}
