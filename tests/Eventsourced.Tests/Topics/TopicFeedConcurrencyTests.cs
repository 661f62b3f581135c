using Eventsourced.Consuming;
using Eventsourced.Topics;

namespace Eventsourced.Tests.Topics;

/// <summary>
/// The feed with its real concurrency: the feed's consumer, each catch-up reader and each subscriber's writer on
/// threads of their own, subscribers arriving while events flow. Every subscriber must get a run without a gap or a
/// repeat from where it asked, up to the last event.
/// </summary>
public sealed class TopicFeedConcurrencyTests
{
    private const int Events = 20_000;
    private const int Prefetch = 128;

    [Fact]
    public async Task SubscribersArrivingWhileEventsFlow_EachGetsEveryEventFromWhereItAskedOnce()
    {
        var t = new TopicFeedTesting(buffer: 4096, recent: 64);
        long published = 500;
        var feedStart = published;
        long fed = feedStart;
        var feeding = Task.Run(async () =>
        {
            var random = new Random(1);
            var nextPause = feedStart + 100;
            while (fed < Events)
            {
                if (Volatile.Read(ref published) < Events)
                {
                    Interlocked.Add(ref published, random.Next(1, 4));
                }

                while (fed < Math.Min(Volatile.Read(ref published), Events))
                {
                    await t.FeedAsync(fed);
                    Volatile.Write(ref fed, fed + 1);
                }

                if (fed >= nextPause)
                {
                    nextPause += 100;
                    // Paced, so that the flow lasts longer than a subscriber's look at it (1 ms): unpaced, the feed could
                    // pass from a subscriber's arrival point to its end in between, and no subscriber without an id saw it flow.
                    await Task.Delay(1);
                }
                else if (random.Next(8) == 0)
                {
                    await Task.Yield();
                }
            }
        });

        var subscribers = Enumerable.Range(0, 96).Select(i => Task.Run(() => SubscribeAsync(t, i, () => Math.Min(Volatile.Read(ref published), Events), () => Volatile.Read(ref fed), feedStart))).ToArray();
        await feeding.WaitAsync(TimeSpan.FromSeconds(60));
        var results = await Task.WhenAll(subscribers).WaitAsync(TimeSpan.FromSeconds(60));

        foreach (var (asked, got, ended) in results)
        {
            var context = $"asked after {asked?.ToString() ?? "(none)"}, ended {ended}, got {got.Count} from {(got.Count > 0 ? got[0] : -1)}";
            Assert.True(ended is null, context);
            for (var i = 1; i < got.Count; i++)
            {
                Assert.True(got[i] == got[i - 1] + 1, $"gap or repeat at {got[i - 1]} -> {got[i]}; {context}");
            }

            if (asked is { } after)
            {
                Assert.NotEmpty(got);
                Assert.True(got[0] == after + 1, context);
            }

            if (asked is not null || got.Count > 0)
            {
                Assert.Equal(Events - 1, got[^1]);
            }
        }

        // Subscribers without an id that attached after the last event get none; most attach before it.
        Assert.Contains(results, r => r.Asked is null && r.Got.Count > 0);
    }

    private static async Task<(long? Asked, List<long> Got, SubscriptionEndReason? Ended)> SubscribeAsync(
        TopicFeedTesting t, int index, Func<long> published, Func<long> fed, long feedStart)
    {
        var random = new Random(index);
        // Arrives at a random point of the flow, whatever the machine's speed (a random time let every subscriber
        // arrive after the last event when the feed was quick).
        var arrival = random.NextInt64(feedStart, Events * 9 / 10);
        while (fed() < arrival)
        {
            await Task.Delay(1);
        }

        var tail = published();
        long? after = index % 4 == 0 ? null : random.NextInt64(0, Math.Max(1, tail - 1));
        var atFeed = fed();
        var subscription = t.Feed.Attach(t.Format, after, out var reader, out var from);
        var got = new List<long>();
        var reading = reader is null ? Task.CompletedTask : Task.Run(async () =>
        {
            // Like the broker, which has sent a prefetch's worth ahead: a few more deliveries after the reader closed.
            ulong tag = 0;
            var afterClose = random.Next(0, 150);
            for (var offset = from; subscription.EndReason is null && (subscription.State == TopicReaderState.CatchingUp || afterClose-- > 0);)
            {
                // At most a prefetch's worth waits in the buffer, as the broker sends no more before acknowledgements.
                if (offset < published() && subscription.Room > subscription.Capacity - Prefetch)
                {
                    await TopicFeedTesting.ReadAsync(reader, offset++, ++tag);
                }
                else
                {
                    // Waiting, not spinning: 96 readers yielding in a loop starved the feed on a busy 2-core machine
                    // (the whole unit suite runs in parallel), and a subscriber then waited past the test's timeout.
                    await Task.Delay(1);
                }
            }
        });

        while (got.Count == 0 || got[^1] < Events - 1)
        {
            bool more;
            try
            {
                // A subscriber without an id gets what comes after it attached: once the feed has had the last event,
                // nothing more may come (it attached after the end: none at all).
                var newEventsOnly = after is null && fed() >= Events;
                var waiting = subscription.Items.WaitToReadAsync().AsTask();
                if (newEventsOnly && await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(2))) != waiting)
                {
                    break;
                }

                more = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                throw new TimeoutException(
                    $"subscriber {index} (asked after {after?.ToString() ?? "(none)"}, attached at feed {atFeed}, reading from {from}) got nothing for 30 s: " +
                    $"{got.Count} events, the last {(got.Count > 0 ? got[^1] : -1)}; state {subscription.State}, next {subscription.Next}, " +
                    $"from the stream {subscription.DeliveredFromStream}, room {subscription.Room}; fed {fed()}, published {published()}");
            }

            if (!more)
            {
                break;
            }

            got.AddRange(TopicFeedTesting.Drain(subscription));
        }

        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        if (after is null)
        {
            // (The message is built either way: it must not index an empty list.)
            Assert.True(got.Count == 0 || got[0] >= Math.Max(atFeed, feedStart), $"no id: got {(got.Count > 0 ? got[0] : -1)} from before it attached at {atFeed}");
        }

        return (after, got, subscription.EndReason);
    }
}
