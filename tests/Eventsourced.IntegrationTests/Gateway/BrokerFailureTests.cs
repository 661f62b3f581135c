using System.Diagnostics;
using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// What a node that stalls or dies for a while does to the gateway: the loss is noticed by AMQP heartbeats (not
/// TCP), streams end at once saying why, <c>/readyz</c> and the broker series follow, and the node is reconnected
/// within about a second of answering again, however long it was away.
/// </summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class BrokerFailureTests(IsolatedBrokerFixture broker) : IAsyncLifetime
{
    private const string ConnectionLost = ": stream ended: broker connection lost\n\n";

    public Task InitializeAsync() => broker.EnsureRunningAsync();

    public Task DisposeAsync() => broker.EnsureRunningAsync();

    [Fact]
    public async Task StalledNode_IsNoticedByHeartbeats_StreamsEndSayingSo_AndItIsReconnectedOnceItAnswers()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Broker.HeartbeatSeconds = 1;
            o.Broker.ReconnectMaxSeconds = 30;
        });
        var node = new Uri(broker.AmqpUrl).Authority;
        await using var client = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName(nameof(BrokerFailureTests))}");
        Assert.Equal(HttpStatusCode.OK, client.Status);
        Assert.True(await client.ReadUntilAsync(text => text.Contains(": SSE stream\n\n", StringComparison.Ordinal), TimeSpan.FromSeconds(10)));

        var stalled = Stopwatch.StartNew();
        await broker.Node.PauseAsync(); // SIGSTOP to the node's VM
        try
        {
            // TCP stays up: only the heartbeats (1 s; about three missed) can tell.
            await client.WaitForEndAsync(TimeSpan.FromSeconds(15));
            var noticed = stalled.Elapsed;
            Assert.EndsWith(ConnectionLost, client.RawText, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(gateway, "/readyz"));
            Assert.Equal(0, (await Observability.Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_broker_connections", ("node", node)));
            Assert.True(noticed < TimeSpan.FromSeconds(15), $"noticed after {noticed}");

            // Let the gateway's backoff grow while the node stays frozen.
            await Task.Delay(TimeSpan.FromSeconds(8));
        }
        finally
        {
            await broker.Node.ResumeAsync();
        }

        var resumed = Stopwatch.StartNew();
        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "/readyz 200 once the node answers again");
        Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(4), $"reconnected {resumed.Elapsed} after the node resumed");
        await using var again = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName(nameof(BrokerFailureTests))}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    [Fact]
    public async Task NodeBackAfterALongOutage_IsReconnectedWithinAboutASecond_NotAfterTheBackoff()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 30);
        var queue = broker.UniqueQueueName(nameof(NodeBackAfterALongOutage_IsReconnectedWithinAboutASecond_NotAfterTheBackoff));
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, client.Status);

        await broker.Node.KillAsync();
        await client.WaitForEndAsync(TimeSpan.FromSeconds(15));
        Assert.EndsWith(ConnectionLost, client.RawText, StringComparison.Ordinal);

        // Long enough for the backoff between attempts to reach several seconds (0.5 s doubling, 30 s cap).
        await Task.Delay(TimeSpan.FromSeconds(10));
        await broker.Node.StartAsync();
        var back = Stopwatch.StartNew();
        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "/readyz 200 with the node back");
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(3), $"/readyz 200 only {back.Elapsed} after the node was ready");

        await using var again = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    private static async Task<HttpStatusCode> StatusAsync(GatewayServer gateway, string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        return response.StatusCode;
    }
}
