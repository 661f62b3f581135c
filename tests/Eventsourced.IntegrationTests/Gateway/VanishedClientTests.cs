using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A client that vanishes without closing its connection (no FIN: a phone that lost its network)
/// must not swallow messages: bytes the kernel could not deliver are not acknowledged to the broker,
/// the dead connection is dropped after <c>server.write_timeout</c>, and the queue is free again with
/// every undelivered message in it.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class VanishedClientTests(BrokerFixture broker)
{
    [Fact]
    public async Task ClientWithoutFin_LosesNothing_AndItsQueueIsFreedAfterTheWriteTimeout()
    {
        await using var ns = await NetworkNamespace.CreateAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Address = "0.0.0.0:0";
            o.Server.WriteTimeoutSeconds = 2;
            o.Server.HeartbeatSeconds = 1;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(VanishedClientTests));
        var queue = broker.UniqueQueueName(nameof(VanishedClientTests));
        var port = gateway.BaseAddress.Port;

        // The client lives in its own network namespace and reads the stream with curl.
        await using var client = ns.Start("curl", "-sN", "--max-time", "120", $"http://{ns.HostAddress}:{port}/?id={queue}");
        await amqp.UntilConsumersAsync(queue, 1, TimeSpan.FromSeconds(15), "client subscribed");
        await amqp.PublishAsync(queue, "seen before the cut");
        await Wait.UntilAsync(
            async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0 },
            TimeSpan.FromSeconds(10),
            "first message delivered and acknowledged (no message ready or unacknowledged)");

        await ns.CutAsync();
        for (var i = 0; i < 5; i++)
        {
            await amqp.PublishAsync(queue, $"after the cut {i}");
        }

        // The dead connection is noticed (TCP_USER_TIMEOUT = 2 x write_timeout), the queue is released,
        // and nothing flushed into the dead socket was acknowledged: all five are back in the queue.
        await amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(30), "vanished client's consumer released");
        Assert.Equal(5u, await amqp.MessageCountAsync(queue));

        await using var again = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"after the cut {i}"), await again.ReadEventsAsync(5, TimeSpan.FromSeconds(10)));
    }
}
