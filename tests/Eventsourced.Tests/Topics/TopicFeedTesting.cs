using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Sse;
using Eventsourced.Tests.Metrics;
using Eventsourced.Topics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Eventsourced.Tests.Topics;

/// <summary>
/// A topic feed without a broker: events and a catch-up reader's deliveries are handed to the consumers directly,
/// as the client library's dispatchers would, so the feed's bookkeeping can be driven step by step.
/// </summary>
internal sealed class TopicFeedTesting
{
    public TopicFeedTesting(int buffer = 64, int recent = 8)
    {
        Metrics = new TestMetrics();
        var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, Metrics.Gateway, NullLogger<BrokerPool>.Instance);
        Hub = new TopicHub(
            Options.Create(new TopicOptions { Buffer = buffer, Recent = recent, LingerSeconds = 0 }), Options.Create(new BrokerOptions()), Options.Create(new QueueOptions()), pool, Metrics.Gateway, TimeProvider.System, NullLogger<TopicHub>.Instance);
        Feed = new TopicFeed(Hub, new TopicHub.Entry("prices"), "prices", "prices", 64);
    }

    public TestMetrics Metrics { get; }

    public TopicHub Hub { get; }

    public TopicFeed Feed { get; }

    public SseFormat Format { get; } = new(new SseFields(false, SseIdSource.StreamOffset, 0));

    public static BasicProperties Properties(long offset) => new() { Headers = new Dictionary<string, object?> { [StreamOffsets.Header] = offset } };

    public static byte[] Body(long offset) => System.Text.Encoding.UTF8.GetBytes($"event-{offset}");

    /// <summary>The feed's consumer receives the event at <paramref name="offset"/>.</summary>
    public Task FeedAsync(long offset) =>
        Feed.HandleBasicDeliverAsync("feed", (ulong)offset + 1, false, "", "prices", Properties(offset), Body(offset));

    /// <summary>The feed receives <paramref name="count"/> events from the stream, the first at <paramref name="first"/>.</summary>
    public async Task FeedAsync(long first, int count)
    {
        for (var offset = first; offset < first + count; offset++)
        {
            await FeedAsync(offset);
        }
    }

    /// <summary>
    /// A catch-up reader receives <paramref name="count"/> events from the stream, the first at <paramref name="first"/>
    /// with delivery tag <paramref name="firstTag"/>, the next ones at the next offsets and tags.
    /// </summary>
    public static async Task ReadAsync(CatchUpReader reader, long first, int count, ulong firstTag)
    {
        for (var i = 0; i < count; i++)
        {
            await ReadAsync(reader, first + i, firstTag + (ulong)i);
        }
    }

    /// <summary>A catch-up reader receives the event at <paramref name="offset"/> from the stream.</summary>
    public static Task ReadAsync(CatchUpReader reader, long offset, ulong deliveryTag) =>
        reader.HandleBasicDeliverAsync("catch-up", deliveryTag, false, "", "prices", Properties(offset), Body(offset));

    /// <summary>
    /// The offsets of the messages waiting in a subscription, taken as its writer takes them; and acknowledged as its
    /// writer does once the client has them, while it catches up: one that fell behind is then handed more, taken too.
    /// </summary>
    public static List<long> Drain(TopicSubscription subscription)
    {
        var offsets = new List<long>();
        while (true)
        {
            var before = offsets.Count;
            while (subscription.Items.TryRead(out var item))
            {
                if (item.IsMessage)
                {
                    Assert.Equal($"id: {item.Tag - 1}\ndata: event-{item.Tag - 1}\n\n", System.Text.Encoding.UTF8.GetString(item.Frame));
                    offsets.Add((long)item.Tag - 1);
                    item.Release();
                }
            }

            if (offsets.Count == before || !subscription.RequiresAcknowledgement)
            {
                return offsets;
            }

            subscription.AcknowledgeAsync((ulong)offsets[^1] + 1, multiple: true).AsTask().GetAwaiter().GetResult();
        }
    }
}
