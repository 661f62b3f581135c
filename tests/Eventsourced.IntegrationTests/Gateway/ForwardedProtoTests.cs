using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Behind a proxy that terminates TLS (the nginx example sends <c>X-Forwarded-Proto $scheme</c>), the scheme a trusted
/// proxy forwards is the request's: an <c>http://</c> page of the gateway's own host is then another origin than its
/// <c>https://</c> one, as over <c>server.tls</c>, while a client that is no trusted proxy changes nothing by sending the
/// header, and such streams are still written directly to the proxy's plain TCP connection. The test client connects
/// from loopback, which <c>limits.trusted_proxies</c> trusts by default.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ForwardedProtoTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TrustedProxyForwardsHttps_AnHttpPageOfTheGatewaysHost_IsAnotherOrigin()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example");
        var queue = broker.UniqueQueueName(nameof(TrustedProxyForwardsHttps_AnHttpPageOfTheGatewaysHost_IsAnotherOrigin));

        // A page a network attacker wrote into plain HTTP for the gateway's host, opening the gateway over https.
        using (var injected = await SendAsync(gateway, $"/?id={queue}", "http://push.example", "https"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, injected.StatusCode);
            Assert.Equal("origin not allowed", injected.Headers.GetValues("X-Status-Reason").Single());
        }

        await using (var amqp = await broker.ConnectAsync(nameof(TrustedProxyForwardsHttps_AnHttpPageOfTheGatewaysHost_IsAnotherOrigin)))
        {
            Assert.False(await amqp.QueueExistsAsync(queue), "nothing declared for another origin's page");
        }

        // The gateway's own https page; an http page where the proxy served http; a proxy that says nothing (either scheme).
        foreach (var (origin, proto) in new[] { ("https://push.example", "https"), ("http://push.example", "http"), ("http://push.example", null) })
        {
            using var own = await SendAsync(gateway, $"/?id={queue}-{proto ?? "none"}", origin, proto);
            Assert.True(own.StatusCode == HttpStatusCode.OK, $"{origin} with X-Forwarded-Proto {proto ?? "(none)"}: {own.StatusCode}");
        }
    }

    [Theory]
    [InlineData("wss")]
    [InlineData("WSS")]
    public async Task TrustedProxyForwardsWss_AnHttpPageOfTheGatewaysHost_CannotOpenAWebSocket(string proto)
    {
        // Traefik forwards a WebSocket handshake's scheme as wss (ws), not https: before, a handshake that came over TLS
        // counted as plain HTTP, and a page injected into plain HTTP for the gateway's host opened it as its own.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example");
        var queue = broker.UniqueQueueName(nameof(TrustedProxyForwardsWss_AnHttpPageOfTheGatewaysHost_CannotOpenAWebSocket));
        var host = gateway.BaseAddress.Authority;

        await using (var injected = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => Headers(o, $"http://{host}", proto)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, injected.Status);
            Assert.Equal("origin not allowed", injected.Reason);
        }

        await using (var own = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => Headers(o, $"https://{host}", proto)))
        {
            Assert.True(own.Connected, $"the gateway's own https page: {own.Status}");
        }

        await using (var plain = await gateway.ConnectWebSocketAsync($"/ws?id={queue}-ws", o => Headers(o, $"http://{host}", "ws")))
        {
            Assert.True(plain.Connected, $"an http page where the proxy served ws: {plain.Status}");
        }

        static void Headers(System.Net.WebSockets.ClientWebSocketOptions options, string origin, string proto)
        {
            options.SetRequestHeader("Origin", origin);
            options.SetRequestHeader("X-Forwarded-Proto", proto);
        }
    }

    [Fact]
    public async Task UntrustedClientSendsForwardedProto_ItIsIgnored()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example";
            o.Limits.TrustedProxies = [];
        });
        var queue = broker.UniqueQueueName(nameof(UntrustedClientSendsForwardedProto_ItIsIgnored));

        using var answer = await SendAsync(gateway, $"/?id={queue}", "http://push.example", "https");

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task TrustedProxyForwardsHttps_TheStreamIsStillWrittenDirectly()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var queue = broker.UniqueQueueName(nameof(TrustedProxyForwardsHttps_TheStreamIsStillWrittenDirectly));
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(TrustedProxyForwardsHttps_TheStreamIsStillWrittenDirectly));
        using var client = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/?id={queue}", keepAlive: false, "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.7");
        Assert.Equal(200, client.Status);
        await amqp.UntilConsumersAsync(queue, 1, Patience, "subscribed");

        for (var i = 0; i < 20; i++)
        {
            await amqp.PublishAsync(queue, $"m{i}");
        }

        await client.ReadUntilAsync(body => body.Contains("data: m19\n\n", StringComparison.Ordinal), Patience);
        Assert.Equal(1, await gateway.MetricAsync("eventsourced_direct_write_streams_total"));
    }

    private static async Task<HttpResponseMessage> SendAsync(GatewayServer gateway, string path, string origin, string? forwardedProto)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "push.example";
        request.Headers.Add("Origin", origin);
        if (forwardedProto is not null)
        {
            request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        }

        return await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }
}
