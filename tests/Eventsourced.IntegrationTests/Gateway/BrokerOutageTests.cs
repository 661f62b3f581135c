using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>Tests that stop and restart their broker node: their own node, never run in parallel.</summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class BrokerOutageTests(IsolatedBrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task NodeRestart_EndsStreams_RefusesWhileDown_AndServesAgainOnceBack()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 2);
        var queues = Enumerable.Range(0, 5).Select(i => $"outage-{Guid.NewGuid():N}-{i}").ToArray();
        var clients = await Task.WhenAll(queues.Select(q => gateway.SubscribeAsync($"/?id={q}")));
        Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));

        await broker.Node.StopAsync();

        // Every stream ends (no spinning on a dead consumer), and every channel lease is returned.
        foreach (var client in clients)
        {
            await client.WaitForEndAsync(Patience);
            await client.DisposeAsync();
        }

        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "leases released");
        using (var whileDown = await gateway.Client.GetAsync($"/?id={queues[0]}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, whileDown.StatusCode);
            Assert.NotEmpty(whileDown.Headers.GetValues("X-Status-Reason").Single());
        }

        await broker.Node.StartAsync();
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.ConnectionsUp > 0), Patience, "gateway reconnected");

        // Durable queues survived the restart; a message published now reaches the new subscriber.
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(BrokerOutageTests));
        await using var again = await gateway.SubscribeAsync($"/?id={queues[0]}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
        await amqp.PublishAsync(queues[0], "after restart");
        Assert.Equal(["after restart"], await again.ReadEventsAsync(1, TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task NodeKilled_StreamsEnd_AndGatewayReconnectsWhenItReturns()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 2);
        var queue = $"killed-{Guid.NewGuid():N}";
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, client.Status);

        await broker.Node.KillAsync();
        await client.WaitForEndAsync(Patience);
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.ConnectionsUp == 0), Patience, "connection seen as down");

        await broker.Node.StartAsync();
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.ConnectionsUp == 1), Patience, "gateway reconnected");
        await using var again = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }
}
