using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// The limit of acknowledging on the client's TCP acknowledgement, as the README states it: a client that stops
/// reading and then dies loses what its kernel had already received (and acknowledged) but its application never
/// read. Nothing beyond that: the rest goes back to the queue.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class KernelBufferLossTests(BrokerFixture broker)
{
    [Fact]
    public async Task ClientThatStopsReadingThenDies_LosesAtMostWhatItsKernelHeld()
    {
        const int Messages = 200;
        const int BodyBytes = 4096;
        const int ReceiveBuffer = 32 * 1024;
        var queue = broker.UniqueQueueName(nameof(KernelBufferLossTests));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Prefetch = 64);
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(KernelBufferLossTests));

        var socket = await RawHttp.OpenNotReadingAsync(gateway.Port, $"/?id={queue}", ReceiveBuffer);
        await amqp.UntilConsumersAsync(queue, 1, TimeSpan.FromSeconds(15), "subscribed");
        var body = new string('x', BodyBytes);
        for (var i = 0; i < Messages; i++)
        {
            await amqp.PublishAsync(queue, $"{i:D5}{body}");
        }

        // The application reads nothing; its kernel takes what fits and acknowledges it, and the gateway
        // acknowledges exactly those messages to the broker. Then the client dies (a reset, no goodbye).
        long? last = null;
        await Wait.UntilAsync(
            async () =>
            {
                var now = (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages;
                var settled = now == last && now < Messages;
                last = now;
                return settled;
            },
            TimeSpan.FromSeconds(30), "the client's kernel full and the acknowledgements settled", TimeSpan.FromMilliseconds(500));
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Consumers: 0 }, TimeSpan.FromSeconds(30), "the stream ended");
        var remaining = (await broker.Rabbitmqctl.FindQueueAsync(queue))!.Messages;
        var lost = Messages - remaining;

        // Lost: acknowledged to the broker, never read by anyone. More than nothing, and no more than the
        // client's kernel could hold (its receive buffer; Linux doubles the size asked for).
        var frame = "data: 00000".Length + BodyBytes + 2;
        Assert.InRange(lost, 1, (2 * ReceiveBuffer / frame) + 1);

        // And everything else is still there for the next subscriber, in order, starting right after the loss.
        await using var next = await gateway.SubscribeAsync($"/?id={queue}");
        var events = await next.ReadEventsAsync((int)remaining, TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range((int)lost, (int)remaining).Select(i => $"{i:D5}"), events.Select(e => e[..5]));
    }
}
