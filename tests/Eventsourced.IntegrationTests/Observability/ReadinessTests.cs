using System.Net;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary><c>/readyz</c> and the broker metrics follow the only broker down and back up.</summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class ReadinessTests(IsolatedBrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Ready_OnlyBrokerStopsAndReturns_Turns503AndBackTo200()
    {
        await broker.EnsureRunningAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 2);
        var amqp = new Uri(broker.AmqpUrl);
        var node = $"{amqp.Host}:{amqp.Port}";
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(gateway, "/readyz"));

        await broker.Node.StopAsync();

        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.ServiceUnavailable, Patience, "/readyz 503 with the broker down");
        using (var down = await gateway.Client.GetAsync("/readyz"))
        {
            Assert.Equal("no broker connection is up (node 1 0/1 up)", down.Headers.GetValues("X-Status-Reason").Single());
        }

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(gateway, "/healthz"));
        var whileDown = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(0, whileDown.Value("eventsourced_broker_connections", ("node", node)));

        await broker.Node.StartAsync();

        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.OK, Patience, "/readyz 200 with the broker back");
        var back = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(1, back.Value("eventsourced_broker_connections", ("node", node)));
        Assert.Equal(1, back.Value("eventsourced_broker_reconnects_total", ("node", node)));
    }

    [Fact]
    public async Task ConnectionsHeld_ATopicsStreamsConnectionDownAndBack_IsCountedDownThenUp()
    {
        await broker.EnsureRunningAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 2);
        var amqp = new Uri(broker.AmqpUrl);
        var node = $"{amqp.Host}:{amqp.Port}";
        var topic = broker.UniqueQueueName("heldtopic");
        var before = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(1, before.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "subscribers"), ("state", "up")));
        Assert.Equal(0, before.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "up")));

        await using (var client = await gateway.SubscribeAsync($"/topics/{topic}"))
        {
            Assert.Equal(HttpStatusCode.OK, client.Status);
            var opened = await Exposition.ScrapeAsync(gateway.Client);
            Assert.Equal(1, opened.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "up")));
            Assert.Equal(0, opened.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "down")));
        }

        await broker.Node.StopAsync();
        try
        {
            await Wait.UntilAsync(
                async () => (await Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "down")) == 1,
                Patience, "the streams connection counted down with the broker stopped");
            var down = await Exposition.ScrapeAsync(gateway.Client);
            Assert.Equal(0, down.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "up")));
            Assert.Equal(1, down.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "subscribers"), ("state", "down")));
        }
        finally
        {
            await broker.Node.StartAsync();
        }

        await Wait.UntilAsync(
            async () => (await Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "up")) == 1,
            Patience, "the streams connection counted up again with the broker back");
        var back = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(0, back.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "down")));
        // The topic's stream stays on this isolated node (deleting it right after the restart races the stream's recovery).
    }

    private static async Task<HttpStatusCode> StatusAsync(GatewayServer gateway, string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        return response.StatusCode;
    }
}
