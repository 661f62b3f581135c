using Eventsourced.Consuming;
using Eventsourced.Sse;
using RabbitMQ.Client;

namespace Eventsourced.Tests.Consuming;

public sealed class SubscriberConsumerTests
{
    private static Task Deliver(SubscriberConsumer consumer, ulong tag) =>
        consumer.HandleBasicDeliverAsync("ctag", tag, false, "", "q", new BasicProperties(), "body"u8.ToArray());

    private static List<OutboundItem> Drain(SubscriberConsumer consumer)
    {
        var items = new List<OutboundItem>();
        while (consumer.Reader.TryRead(out var item))
        {
            items.Add(item);
        }

        return items;
    }

    [Fact]
    public async Task ControlItems_NeverTakeTheRoomOfDeliveries()
    {
        var consumer = new SubscriberConsumer(null!, prefetch: 2, new SseFormat());
        for (var i = 0; i < 10; i++)
        {
            consumer.TryQueueWakeup();
            consumer.TryQueueHeartbeat();
        }

        await Deliver(consumer, 1);
        await Deliver(consumer, 2);

        Assert.Null(consumer.EndReason);
        var items = Drain(consumer);
        Assert.Equal([0ul, 0ul, 1ul, 2ul], items.Select(d => d.Tag));
    }

    [Fact]
    public async Task ControlItem_CanBeQueuedAgainOnceTaken()
    {
        var consumer = new SubscriberConsumer(null!, prefetch: 4, new SseFormat());
        consumer.TryQueueWakeup();
        consumer.TryQueueWakeup();
        var first = Assert.Single(Drain(consumer));
        Assert.Equal(0, first.Length);

        consumer.TryQueueWakeup();
        Assert.Empty(Drain(consumer)); // not taken yet: still counted as queued

        consumer.Taken(first);
        consumer.TryQueueWakeup();
        Assert.Single(Drain(consumer));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task DeliveryThatDoesNotFit_EndsTheStream_SoNoMultipleAckCanCoverIt()
    {
        var consumer = new SubscriberConsumer(null!, prefetch: 1, new SseFormat());
        consumer.TryQueueWakeup();
        consumer.TryQueueHeartbeat();
        await Deliver(consumer, 1);
        await Deliver(consumer, 2); // beyond prefetch: the broker broke its promise

        Assert.Equal(SubscriptionEndReason.BufferOverflow, consumer.EndReason);
        await Deliver(consumer, 3);
        Assert.DoesNotContain(Drain(consumer), d => d.Tag is 2 or 3);
    }

    [Fact]
    public async Task Stop_WakesTheWriter_AndRefusesLaterDeliveries_WithoutEndingTheConsumer()
    {
        var consumer = new SubscriberConsumer(null!, prefetch: 4, new SseFormat());
        await Deliver(consumer, 1);
        var waiting = consumer.Reader.WaitToReadAsync().AsTask();
        Assert.True(await waiting);
        Assert.Single(Drain(consumer));

        var wait = consumer.Reader.WaitToReadAsync().AsTask();
        Assert.False(wait.IsCompleted);
        consumer.Stop();
        Assert.False(await wait.WaitAsync(TimeSpan.FromSeconds(10)));

        // Refused, never queued; and no end reason, so what was flushed before may still be acknowledged.
        await Deliver(consumer, 2);
        Assert.Null(consumer.EndReason);
        Assert.Empty(Drain(consumer));
    }

    [Fact]
    public async Task Framing_HappensOnDelivery_CopyingTheBody()
    {
        var consumer = new SubscriberConsumer(null!, prefetch: 1, new SseFormat());
        var body = " a\r\nb "u8.ToArray();
        await consumer.HandleBasicDeliverAsync("ctag", 1, false, "", "q", new BasicProperties(), body);
        body.AsSpan().Fill((byte)'z'); // the client library reuses its buffer after the handler returns

        Assert.Equal("data: a\ndata: b\n\n"u8.ToArray(), Assert.Single(Drain(consumer)).Frame.ToArray());
    }
}
