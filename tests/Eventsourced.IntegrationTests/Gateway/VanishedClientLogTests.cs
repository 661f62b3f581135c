using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A client that stops reading while what the gateway sent it fits the connection's buffers is dropped by the kernel
/// after twice <c>server.write_timeout</c> (<c>TCP_USER_TIMEOUT</c>), as a vanished client is: an everyday end (a
/// phone losing its network), and one any client can cause as often as it opens connections. Kestrel reported each
/// such drop as a warning with a stack trace (<c>Connection processing ended abnormally</c>, the socket's
/// <c>ETIMEDOUT</c>), and as an error when a write met it (<c>Unexpected exception in TimingPipeFlusher</c>).
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class VanishedClientLogTests(BrokerFixture broker)
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";

    [Fact]
    public async Task ClientThatStopsReading_DroppedByTheKernel_LogsNoKestrelWarning()
    {
        const int Messages = 40;
        const int BodyBytes = 2048; // 80 KB: more than the client's receive window, far less than the gateway's send buffer
        var queue = broker.UniqueQueueName(nameof(VanishedClientLogTests));
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.WriteTimeoutSeconds = 1, log);
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(VanishedClientLogTests));

        using var socket = await RawHttp.OpenNotReadingAsync(gateway.Port, $"/?id={queue}");
        await amqp.UntilConsumersAsync(queue, 1, TimeSpan.FromSeconds(15), "subscribed");
        var body = new string('x', BodyBytes);
        for (var i = 0; i < Messages; i++)
        {
            await amqp.PublishAsync(queue, $"{i:D5}{body}");
        }

        // The client reads nothing and stays connected: its window closes, and the kernel drops the connection.
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, TimeSpan.FromSeconds(30), "the stream ended");
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), TimeSpan.FromSeconds(10), "the subscription released");
        await Task.Delay(TimeSpan.FromSeconds(1)); // Kestrel ends the connection's processing after the stream's request

        Assert.DoesNotContain(log.Entries, e => e.Category.StartsWith(KestrelCategory, StringComparison.Ordinal) && e.Level >= LogLevel.Warning);
        Assert.True(await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: > 0 }, "what the client's kernel did not take went back to the queue");
    }
}
