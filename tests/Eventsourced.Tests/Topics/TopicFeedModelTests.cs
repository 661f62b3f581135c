using Eventsourced.Consuming;
using Eventsourced.Topics;

namespace Eventsourced.Tests.Topics;

/// <summary>
/// The feed against a model of the stream, over thousands of random interleavings: events published, the feed
/// receiving them, subscribers arriving (with no id, a recent id, an old id, an id ahead of the feed or far beyond
/// the stream), their catch-up readers reading, their writers draining, subscribers leaving. Whatever happens, every
/// subscriber gets a run of offsets without a gap or a repeat, starting where it asked; and once everything has been
/// read, every subscriber still there is live and has the topic's last event.
/// </summary>
public sealed class TopicFeedModelTests
{
    private sealed class Subscriber(TopicSubscription subscription, CatchUpReader? reader, long readerNext, long? exactFirst, long minFirst)
    {
        public TopicSubscription Subscription { get; } = subscription;

        public CatchUpReader? Reader { get; } = reader;

        public long ReaderNext { get; set; } = readerNext;

        public ulong ReaderTag { get; set; }

        public long? ExactFirst { get; } = exactFirst;

        public long MinFirst { get; } = minFirst;

        public List<long> Got { get; } = [];

        public bool Left { get; set; }

        public string Log { get; set; } = "";

        public string Describe => $"{Log}: exact first {ExactFirst}, min first {MinFirst}, state {Subscription.State}, end {Subscription.EndReason}, got [{string.Join(",", Got)}]";
    }

    [Fact]
    public async Task RandomInterleavings_EverySubscriberGetsARunFromWhereItAskedAndEndsLive()
    {
        for (var seed = 1; seed <= 1500; seed++)
        {
            await RunAsync(seed);
        }
    }

    private static async Task RunAsync(int seed)
    {
        var random = new Random(seed);
        var t = new TopicFeedTesting(buffer: random.Next(16, 48), recent: random.Next(0, 12));
        long published = random.Next(0, 30);
        var feedStart = published; // the feed consumes from "next": what comes after it started
        var fed = feedStart;
        var subscribers = new List<Subscriber>();

        for (var step = 0; step < 300; step++)
        {
            switch (random.Next(7))
            {
                case 0:
                    published += random.Next(1, 4);
                    break;
                case 1:
                case 2:
                    if (fed < published)
                    {
                        await t.FeedAsync(fed++);
                    }

                    break;
                case 3:
                    subscribers.Add(Attach(t, random, published, fed, feedStart));
                    break;
                case 4:
                    if (subscribers.Count > 0 && subscribers[random.Next(subscribers.Count)] is { Reader: { } reader } reading && reading.ReaderNext < published)
                    {
                        await TopicFeedTesting.ReadAsync(reader, reading.ReaderNext++, ++reading.ReaderTag);
                    }

                    break;
                case 5:
                    if (subscribers.Count > 0)
                    {
                        var drained = subscribers[random.Next(subscribers.Count)];
                        drained.Got.AddRange(TopicFeedTesting.Drain(drained.Subscription));
                    }

                    break;
                case 6:
                    if (subscribers.Count > 0 && random.Next(4) == 0)
                    {
                        var leaving = subscribers[random.Next(subscribers.Count)];
                        leaving.Got.AddRange(TopicFeedTesting.Drain(leaving.Subscription));
                        leaving.Left = true;
                        await leaving.Subscription.DisposeAsync();
                    }

                    break;
            }
        }

        // Everything published is read: by the feed, and by every reader still reading, draining as it goes.
        while (fed < published)
        {
            await t.FeedAsync(fed++);
            subscribers.ForEach(s => s.Got.AddRange(TopicFeedTesting.Drain(s.Subscription)));
        }

        foreach (var subscriber in subscribers.Where(s => s.Reader is not null))
        {
            while (subscriber.ReaderNext < published && subscriber.Subscription.State == TopicReaderState.CatchingUp)
            {
                await TopicFeedTesting.ReadAsync(subscriber.Reader!, subscriber.ReaderNext++, ++subscriber.ReaderTag);
                subscriber.Got.AddRange(TopicFeedTesting.Drain(subscriber.Subscription));
            }
        }

        subscribers.ForEach(s => s.Got.AddRange(TopicFeedTesting.Drain(s.Subscription)));
        foreach (var subscriber in subscribers)
        {
            var context = $"seed {seed}: {subscriber.Describe}";
            for (var i = 1; i < subscriber.Got.Count; i++)
            {
                Assert.True(subscriber.Got[i] == subscriber.Got[i - 1] + 1, $"gap or repeat at {i}; {context}");
            }

            if (subscriber.Got.Count > 0)
            {
                if (subscriber.ExactFirst is { } first)
                {
                    Assert.True(subscriber.Got[0] == first, $"first event; {context}");
                }

                Assert.True(subscriber.Got[0] >= subscriber.MinFirst, $"an event from before it subscribed; {context}");
            }

            if (subscriber.Left || subscriber.Subscription.EndReason is SubscriptionEndReason.SlowReader)
            {
                continue;
            }

            Assert.True(subscriber.Subscription.EndReason is null, $"ended; {context}");
            var waitsAhead = subscriber.ExactFirst is { } wanted && wanted > published;
            if (waitsAhead)
            {
                // Its id is ahead of everything published (it came from a feed elsewhere that is further on): it waits.
                Assert.Empty(subscriber.Got);
                continue;
            }

            if (published == feedStart)
            {
                continue; // the feed never had an event to join at
            }

            Assert.True(subscriber.Subscription.State == TopicReaderState.Live, $"not live; {context}");
            if ((subscriber.ExactFirst ?? subscriber.MinFirst) < published)
            {
                Assert.True(subscriber.Got.Count > 0 && subscriber.Got[^1] == published - 1, $"does not have the last event {published - 1}; {context}");
            }
        }
    }

    private static Subscriber Attach(TopicFeedTesting t, Random random, long published, long fed, long feedStart)
    {
        var feedNext = fed > feedStart ? fed : -1; // what the feed knows
        long? resumeAfter = random.Next(7) switch
        {
            0 => null,
            6 => -1, // earliest: everything the stream keeps
            1 => published + (2 * TopicFeed.AheadTolerance) + random.Next(0, 5), // another stream of the same name
            2 => published + random.Next(0, 3), // from a feed elsewhere that is ahead
            _ => published == 0 ? null : random.NextInt64(0, published),
        };
        var subscription = t.Feed.Attach(t.Format, resumeAfter, out var reader, out var from);
        long? exactFirst = null;
        long minFirst = feedNext >= 0 ? feedNext : feedStart;
        if (resumeAfter is { } after && after + 1 <= published + 3)
        {
            exactFirst = after + 1;
            minFirst = after + 1;
        }

        return new Subscriber(subscription, reader, from, exactFirst, minFirst) { Log = $"resume {resumeAfter} published {published} fed {fed} feedStart {feedStart} from {from} reader {reader is not null}" };
    }
}
