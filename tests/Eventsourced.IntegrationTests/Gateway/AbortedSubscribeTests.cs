using System.Net;
using System.Text.Json;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A client that leaves while its subscription is being opened (channel.open, qos, declare, consume on their way)
/// must leave nothing behind: no reservation in the pool, no channel on the broker, no extra connection later.
/// A proxy that delays every broker answer makes each step last long enough to leave in the middle of it.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class AbortedSubscribeTests(BrokerFixture broker)
{
    private static readonly TimeSpan Lag = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task ClientLeavesWhileTheChannelOpens_NothingIsLeftReserved()
    {
        var (proxy, amqpUrl) = LaggingProxy.ForBroker(broker.AmqpUrl, Lag);
        await using var _ = proxy;
        await using var gateway = await GatewayServer.StartAsync(amqpUrl);
        var prefix = gateway.Pool.ConnectionNamePrefix;

        // Leave at different points: during channel.open (first lag), qos, declare, consume.
        var leaves = new[] { 20, 60, 120, 200, 300, 400, 550, 700, 850, 1000 };
        await Task.WhenAll(leaves.Select(async (after, i) =>
        {
            using var leave = new CancellationTokenSource(TimeSpan.FromMilliseconds(after));
            try
            {
                await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName($"aborted{i}")}", leave.Token);
            }
            catch (OperationCanceledException)
            {
                // Left before the answer: the point of the test.
            }
        }));

        await Wait.UntilAsync(
            async () => gateway.Pool.Slots.Sum(s => s.Leases) == 0 && await ConsumersAsync(gateway) == 0,
            TimeSpan.FromSeconds(20),
            "no reservation and no consumer left once every client has gone");
        await Wait.UntilAsync(
            async () => await broker.Rabbitmqctl.ChannelCountAsync(prefix) == 0,
            TimeSpan.FromSeconds(20),
            "no channel of the gateway left on the broker");
        Assert.Single(gateway.Pool.Slots);

        // And the gateway still serves.
        await using var served = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("served")}");
        Assert.Equal(HttpStatusCode.OK, served.Status);
    }

    private static async Task<long> ConsumersAsync(GatewayServer gateway)
    {
        using var vars = JsonDocument.Parse(await gateway.Client.GetStringAsync("/debug/vars"));
        return vars.RootElement.GetProperty("consumers").GetInt64() + vars.RootElement.GetProperty("streams").GetInt64();
    }
}
