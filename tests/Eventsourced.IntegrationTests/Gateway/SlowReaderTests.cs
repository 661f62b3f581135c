using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A client that stops reading must not make the gateway buffer without bound: once a flush has been
/// stuck for <c>server.write_timeout</c>, the stream is ended, and what was not acknowledged goes back
/// to the queue. Nothing is lost.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class SlowReaderTests(BrokerFixture broker)
{
    [Fact]
    public async Task ClientThatStopsReading_IsCutOffAfterTheWriteTimeout_AndItsMessagesAreRequeued()
    {
        const int Messages = 400;
        const int BodyBytes = 64 * 1024; // 25 MB in all: far more than the socket buffers hold
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            // The stalled client is cut off after this; the healthy reader below must never stall for
            // the kernel's user timeout (twice this), even on a loaded machine.
            o.Server.WriteTimeoutSeconds = 5;
            o.Queue.Prefetch = 16;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(SlowReaderTests));
        var queue = broker.UniqueQueueName(nameof(SlowReaderTests));

        // Subscribe and never read the body.
        await using var stalled = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, stalled.Status);
        var body = new string('x', BodyBytes);
        for (var i = 0; i < Messages; i++)
        {
            await amqp.PublishAsync(queue, $"{i:D5}{body}");
        }

        // The gateway gives up on the stream and releases the queue.
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), TimeSpan.FromSeconds(30), "stalled stream ended");
        await amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(10), "consumer released");

        // Everything not acknowledged is back in the queue: a new reader gets the rest, in order,
        // starting where the acknowledged prefix ended, and the two together are all messages.
        var remaining = (int)(await amqp.MessageCountAsync(queue))!.Value;
        Assert.InRange(remaining, 1, Messages);
        await using var reader = await gateway.SubscribeAsync($"/?id={queue}");
        IReadOnlyList<string> events;
        try
        {
            events = await reader.ReadEventsAsync(remaining, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            var got = reader.Events();
            throw new Xunit.Sdk.XunitException(
                $"expected {remaining} requeued messages, got {got.Count} ({got.FirstOrDefault()?[..5]}..{got.LastOrDefault()?[..5]}); queue now {await broker.Rabbitmqctl.FindQueueAsync(queue)}");
        }

        var first = Messages - remaining;
        Assert.Equal(Enumerable.Range(first, remaining).Select(i => $"{i:D5}"), events.Select(e => e[..5]));
    }

    [Fact]
    public Task ClientThatStopsReading_WhatItsTcpNeverAcknowledged_IsCountedRequeued() =>
        // Written to the kernel, counted delivered, never acknowledged by the client's TCP: back to the queue when the stream
        // was cut off. Without a requeue count the counters said every one reached its client (before: 90 of 1 MB messages
        // "delivered" to 30 clients that had read nothing, and all of them back in their queues).
        AssertStalledClientCountedRequeuedAsync(async (gateway, queue) =>
        {
            var stalled = await gateway.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.OK, stalled.Status);
            return stalled;
        });

    [Fact]
    public Task WebSocketThatStopsReading_WhatItsTcpNeverAcknowledged_IsCountedRequeued() =>
        // The same over a WebSocket without acks=client, whose delivery is the client's TCP acknowledgement as an SSE
        // stream's is (the WebSocket's count had no test).
        AssertStalledClientCountedRequeuedAsync(async (gateway, queue) =>
        {
            // A ClientWebSocket reads only when asked to receive: this one never is.
            var stalled = new System.Net.WebSockets.ClientWebSocket();
            await stalled.ConnectAsync(new UriBuilder(new Uri(gateway.BaseAddress, $"/ws?id={queue}")) { Scheme = "ws" }.Uri, CancellationToken.None);
            return new Disposing(stalled);
        });

    /// <summary>
    /// A client opened by <paramref name="openStalled"/> that never reads gets more than the socket buffers hold; once the
    /// gateway cut it off, what its TCP never acknowledged is back in the queue and counted <c>tcp_unacknowledged</c>.
    /// </summary>
    private async Task AssertStalledClientCountedRequeuedAsync(Func<GatewayServer, string, Task<IAsyncDisposable>> openStalled)
    {
        const int Messages = 200;
        const int BodyBytes = 64 * 1024;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.WriteTimeoutSeconds = 2;
            o.Queue.Prefetch = 16;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(SlowReaderTests));
        var queue = broker.UniqueQueueName("stalled");
        await using (await openStalled(gateway, queue))
        {
            var body = new string('x', BodyBytes);
            for (var i = 0; i < Messages; i++)
            {
                await amqp.PublishAsync(queue, $"{i:D5}{body}");
            }

            await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), TimeSpan.FromSeconds(30), "stalled client cut off");
            await amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(10), "consumer released");
        }

        var acknowledged = Messages - (long)(await amqp.MessageCountAsync(queue))!.Value;
        var metrics = await gateway.Client.GetStringAsync("/metrics");
        var delivered = MetricsText.Value(metrics, "eventsourced_messages_delivered_total");
        var requeued = MetricsText.Value(metrics, "eventsourced_messages_requeued_total{reason=\"tcp_unacknowledged\"}");
        Assert.True(requeued > 0, $"the kernel's send buffer held messages the client never acknowledged: {delivered} delivered, {acknowledged} acknowledged");
        Assert.Equal(delivered - acknowledged, requeued);
    }

    private sealed class Disposing(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
