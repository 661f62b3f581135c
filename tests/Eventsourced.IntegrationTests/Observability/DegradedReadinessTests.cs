using System.Net;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>A gateway with one of its nodes down is still ready (the others serve), and <c>/readyz</c> says which one is down.</summary>
[Collection(BrokerCollection.Name)]
public sealed class DegradedReadinessTests(BrokerFixture broker)
{
    [Fact]
    public async Task OneOfTwoNodesDown_Ready200Degraded_NamesIt_AndSubscriptionsGoToTheOther()
    {
        var downPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
            o.Broker.Node = [broker.AmqpUrl, $"amqp://guest:guest@127.0.0.1:{downPort}/"]);

        using (var ready = await gateway.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync();
            Assert.StartsWith("Degraded\nbroker: Degraded: 1 of 2 broker connections up, 1 node(s) down", body, StringComparison.Ordinal);
            Assert.Contains("node 1 1/1 up, node 2 0/1 up", body, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.1", body, StringComparison.Ordinal);
        }

        var queues = Enumerable.Range(0, 6).Select(i => broker.UniqueQueueName($"{nameof(DegradedReadinessTests)}-{i}")).ToArray();
        var clients = await Task.WhenAll(queues.Select(q => gateway.SubscribeAsync($"/?id={q}")));
        try
        {
            Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
