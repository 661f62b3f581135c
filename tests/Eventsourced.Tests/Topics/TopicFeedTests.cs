using Eventsourced.Consuming;
using Eventsourced.Topics;

namespace Eventsourced.Tests.Topics;

public sealed class TopicFeedTests
{
    [Fact]
    public async Task Attach_WithoutId_GetsOnlyEventsAppendedAfterIt()
    {
        var t = new TopicFeedTesting();
        await t.FeedAsync(10);
        await t.FeedAsync(11);

        var subscription = t.Feed.Attach(t.Format, null, out var catchUp, out _);
        await t.FeedAsync(12);
        await t.FeedAsync(13);

        Assert.Null(catchUp);
        Assert.Equal(TopicReaderState.Live, subscription.State);
        Assert.Equal([12L, 13L], TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Attach_IdAmongRecentEvents_GetsTheRestFromMemoryThenLive()
    {
        var t = new TopicFeedTesting(recent: 8);
        await t.FeedAsync(0, 6);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 2, out var catchUp, out _);
        await t.FeedAsync(6);

        Assert.Null(catchUp);
        Assert.Equal([3L, 4L, 5L, 6L], TopicFeedTesting.Drain(subscription));
        Assert.False(subscription.RequiresAcknowledgement);
    }

    [Fact]
    public async Task Attach_Earliest_ReadsTheStreamFromItsFirstEvent()
    {
        var t = new TopicFeedTesting(recent: 2);
        await t.FeedAsync(0, 5);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: -1, out var catchUp, out var from);
        await TopicFeedTesting.ReadAsync(catchUp!, 0, 3, firstTag: 1);

        Assert.Equal(0, from);
        Assert.Equal(TopicReaderState.Live, subscription.State);
        Assert.Equal(Enumerable.Range(0, 5).Select(o => (long)o), TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Attach_RecentEventsThatWouldFillTheBuffer_ReadTheStreamInstead_AJoinLeavesRoomForTheNextEvents()
    {
        var t = new TopicFeedTesting(buffer: 16, recent: 64);
        await t.FeedAsync(0, 30);

        // 19 recent events would leave no room in a buffer of 16: it reads the stream until the rest fits with room to spare.
        var subscription = t.Feed.Attach(t.Format, resumeAfter: 10, out var catchUp, out _);
        Assert.NotNull(catchUp);
        ulong tag = 0;
        var received = new List<long>();
        for (var offset = 11L; ; offset++)
        {
            Assert.True(offset < 30, "never joined");
            await TopicFeedTesting.ReadAsync(catchUp!, offset, ++tag);
            if (subscription.State == TopicReaderState.Live)
            {
                break;
            }

            received.AddRange(TopicFeedTesting.Drain(subscription));
        }

        // It joined when the rest fitted in its buffer of 16 less a quarter (the one it had just read, and 11 from
        // memory): the next events find room.
        Assert.Equal(12, subscription.Capacity - subscription.Room);
        received.AddRange(TopicFeedTesting.Drain(subscription));
        await t.FeedAsync(30, 3);

        Assert.Null(subscription.EndReason);
        Assert.Equal(Enumerable.Range(11, 22).Select(o => (long)o), received.Concat(TopicFeedTesting.Drain(subscription)));
    }

    [Fact]
    public async Task Attach_IdOfTheLatestEvent_IsLiveWithNothingToHandOver()
    {
        var t = new TopicFeedTesting();
        await t.FeedAsync(0);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 0, out var catchUp, out _);
        await t.FeedAsync(1);

        Assert.Null(catchUp);
        Assert.Equal([1L], TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Attach_IdFarBeyondTheStreamsEnd_ReadsAsNewEventsOnly()
    {
        var t = new TopicFeedTesting();
        await t.FeedAsync(0);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: TopicFeed.AheadTolerance + 5, out var catchUp, out _);
        await t.FeedAsync(1);

        Assert.Null(catchUp);
        Assert.Equal([1L], TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Attach_IdALittleAheadOfTheFeed_WaitsForTheFeedAndGetsNothingTwice()
    {
        var t = new TopicFeedTesting();
        await t.FeedAsync(0);

        // Its last event was 3, from another instance whose feed is ahead of this one.
        var subscription = t.Feed.Attach(t.Format, resumeAfter: 3, out var catchUp, out _);
        Assert.Null(catchUp);
        await t.FeedAsync(1, 5);

        Assert.Equal(TopicReaderState.Live, subscription.State);
        Assert.Equal([4L, 5L], TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Attach_IdOlderThanRecentEvents_CatchesUpFromTheStreamThenJoinsWithoutGapOrRepeat()
    {
        var t = new TopicFeedTesting(recent: 4);
        await t.FeedAsync(0, 10);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 1, out var catchUp, out var from);
        Assert.NotNull(catchUp);
        Assert.Equal(2, from);
        Assert.True(subscription.RequiresAcknowledgement);

        // The stream reader reads 2..6; the feed keeps 6..9 in memory: after 5 the rest comes from memory.
        await TopicFeedTesting.ReadAsync(catchUp!, 2, 5, firstTag: 2);

        await t.FeedAsync(10);

        Assert.Equal(TopicReaderState.Live, subscription.State);
        Assert.Null(subscription.CatchUp);
        Assert.Equal(Enumerable.Range(2, 9).Select(o => (long)o), TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task CatchingUp_ReaderReachesTheRecentEvents_JoinsFromMemoryAndStopsReading()
    {
        var t = new TopicFeedTesting(recent: 4);
        await t.FeedAsync(0, 6);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 0, out var catchUp, out _);
        Assert.Equal(TopicReaderState.CatchingUp, subscription.State);
        await TopicFeedTesting.ReadAsync(catchUp!, 1, 1);

        // 2..5 are in memory: it joined there, and what its reader reads afterwards is not handed over again.
        Assert.Equal(TopicReaderState.Live, subscription.State);
        await TopicFeedTesting.ReadAsync(catchUp!, 2, 2);
        await t.FeedAsync(6);

        Assert.Equal(Enumerable.Range(1, 6).Select(o => (long)o), TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task CatchingUp_WithoutRecentEvents_JoinsExactlyAtTheFeedsNextEvent()
    {
        var t = new TopicFeedTesting(recent: 0);
        await t.FeedAsync(0, 6);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 2, out var catchUp, out _);
        await TopicFeedTesting.ReadAsync(catchUp!, 3, 1);
        await TopicFeedTesting.ReadAsync(catchUp!, 4, 2);
        Assert.Equal(TopicReaderState.CatchingUp, subscription.State);
        await TopicFeedTesting.ReadAsync(catchUp!, 5, 3);
        Assert.Equal(TopicReaderState.Live, subscription.State);
        await t.FeedAsync(6);

        Assert.Equal(Enumerable.Range(3, 4).Select(o => (long)o), TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task CatchingUp_IdFarBeyondTheEndBeforeTheFeedHadEvents_JoinsAtTheFeedsFirstEvent()
    {
        var t = new TopicFeedTesting();
        var after = TopicFeed.AheadTolerance + 99;
        var subscription = t.Feed.Attach(t.Format, resumeAfter: after, out var catchUp, out var from);
        Assert.NotNull(catchUp);
        Assert.Equal(after + 1, from);

        await t.FeedAsync(3);
        await t.FeedAsync(4);

        Assert.Equal(TopicReaderState.Live, subscription.State);
        Assert.Equal([3L, 4L], TopicFeedTesting.Drain(subscription));
    }

    [Fact]
    public async Task Live_BufferFilledByABurst_FallsBehind_IsHandedTheRecentEventsAsItsWriterMakesRoom_AndJoinsAgain()
    {
        // A burst larger than its buffer ended a subscriber that read as fast as it could (a WebSocket's at once).
        var t = new TopicFeedTesting(buffer: 16, recent: 64);
        var behind = t.Feed.Attach(t.Format, null, out _, out _);
        await t.FeedAsync(0, 40);

        Assert.Null(behind.EndReason);
        Assert.Equal(TopicReaderState.CatchingUp, behind.State);
        Assert.True(behind.RequiresAcknowledgement);
        var received = TopicFeedTesting.Drain(behind);
        Assert.Equal(TopicReaderState.Live, behind.State);
        await t.FeedAsync(40, 2);
        received.AddRange(TopicFeedTesting.Drain(behind));

        Assert.Equal(Enumerable.Range(0, 42).Select(o => (long)o), received);
        Assert.Equal(0, t.Metrics.Scrape().Value("eventsourced_topic_slow_subscribers_total"));
    }

    [Fact]
    public async Task Live_BufferFull_EventsComingWhileItsWriterMakesRoom_JoinsWithoutGapOrRepeat()
    {
        var t = new TopicFeedTesting(buffer: 16, recent: 64);
        var behind = t.Feed.Attach(t.Format, null, out _, out _);
        await t.FeedAsync(0, 20);

        // Its writer takes a few at a time while events go on coming: the feed hands it the recent ones as room allows.
        var received = new List<long>();
        for (var offset = 20; offset < 60; offset++)
        {
            for (var i = 0; i < 3 && behind.Items.TryRead(out var item); i++)
            {
                received.Add((long)item.Tag - 1);
                item.Release();
            }

            await t.FeedAsync(offset);
        }

        received.AddRange(TopicFeedTesting.Drain(behind));
        await t.FeedAsync(60);
        received.AddRange(TopicFeedTesting.Drain(behind));

        Assert.Equal(TopicReaderState.Live, behind.State);
        Assert.Equal(Enumerable.Range(0, 61).Select(o => (long)o), received);
    }

    [Fact]
    public async Task Live_FallenFurtherBehindThanTheRecentEvents_IsEndedAsSlow_OthersGetEverything()
    {
        var t = new TopicFeedTesting(buffer: 16);
        var slow = t.Feed.Attach(t.Format, null, out _, out _);
        var fast = t.Feed.Attach(t.Format, null, out _, out _);
        var received = new List<long>();
        for (var offset = 0; offset < 40; offset++)
        {
            await t.FeedAsync(offset);
            received.AddRange(TopicFeedTesting.Drain(fast));
        }

        Assert.Equal(SubscriptionEndReason.SlowReader, slow.EndReason);
        Assert.Null(fast.EndReason);
        Assert.Equal(Enumerable.Range(0, 40).Select(o => (long)o), received);
        Assert.Equal(1, t.Metrics.Scrape().Value("eventsourced_topic_slow_subscribers_total"));
        Assert.Equal(1, t.Feed.Subscribers);
    }

    [Fact]
    public void Live_EndedAsSlowByItsTransport_CountsAsSlow_Once()
    {
        // The SSE writer finds it slow when more than its buffer waits at its socket (DirectChunkWriter full).
        var t = new TopicFeedTesting(buffer: 16);
        var subscription = t.Feed.Attach(t.Format, null, out _, out _);

        subscription.DirectWriteEnded(SubscriptionEndReason.SlowReader);
        subscription.DirectWriteEnded(SubscriptionEndReason.SlowReader);

        Assert.Equal(SubscriptionEndReason.SlowReader, subscription.EndReason);
        Assert.Equal(1, t.Metrics.Scrape().Value("eventsourced_topic_slow_subscribers_total"));
    }

    [Fact]
    public async Task Live_EndedByAWriteTimeoutFirst_IsNotCountedAsSlowWhenItsBufferFills()
    {
        var t = new TopicFeedTesting(buffer: 16);
        var timedOut = t.Feed.Attach(t.Format, null, out _, out _);
        timedOut.DirectWriteEnded(SubscriptionEndReason.WriteTimeout);

        await t.FeedAsync(0, 20);

        Assert.Equal(SubscriptionEndReason.WriteTimeout, timedOut.EndReason);
        Assert.Equal(0, t.Metrics.Scrape().Value("eventsourced_topic_slow_subscribers_total"));
    }

    [Fact]
    public async Task Live_SubscriberThatStopped_LeavesWithoutCountingAsSlow()
    {
        var t = new TopicFeedTesting(buffer: 16);
        var leaving = t.Feed.Attach(t.Format, null, out _, out _);
        leaving.Stop();

        await t.FeedAsync(0);

        Assert.Null(leaving.EndReason);
        Assert.Equal(0, t.Metrics.Scrape().Value("eventsourced_topic_slow_subscribers_total"));
    }

    [Fact]
    public async Task Ended_ByTheBroker_EndsEverySubscriberAndRefusesNewOnes()
    {
        var t = new TopicFeedTesting();
        var live = t.Feed.Attach(t.Format, null, out _, out _);
        var catchingUp = t.Feed.Attach(t.Format, resumeAfter: 3, out _, out _);

        await t.Feed.HandleBasicCancelAsync("feed");

        Assert.Equal(SubscriptionEndReason.ConsumerCancelled, live.EndReason);
        Assert.Equal(SubscriptionEndReason.ConsumerCancelled, catchingUp.EndReason);
        Assert.Null(catchingUp.CatchUp);
        Assert.Throws<FeedEndedException>(() => t.Feed.Attach(t.Format, null, out _, out _));
    }

    [Fact]
    public async Task Ended_ByTheBroker_ASubscriberThatFellBehind_IsHandedNothingMoreWhenItsWriterAcknowledges()
    {
        var t = new TopicFeedTesting(buffer: 16, recent: 64);
        var behind = t.Feed.Attach(t.Format, null, out _, out _);
        await t.FeedAsync(0, 40);
        Assert.True(behind.FellBehind);

        await t.Feed.HandleBasicCancelAsync("feed");
        var written = TakeMessages(behind);
        await behind.AcknowledgeAsync((ulong)written[^1] + 1, multiple: true);

        Assert.Equal(Enumerable.Range(0, 16).Select(o => (long)o), written);
        Assert.Empty(TakeMessages(behind));
        Assert.Equal(0, t.Feed.Subscribers);
        Assert.Equal(SubscriptionEndReason.ConsumerCancelled, behind.EndReason);

        static List<long> TakeMessages(TopicSubscription subscription)
        {
            var offsets = new List<long>();
            while (subscription.Items.TryRead(out var item))
            {
                if (item.IsMessage)
                {
                    offsets.Add((long)item.Tag - 1);
                    item.Release();
                }
            }

            return offsets;
        }
    }

    [Fact]
    public async Task CatchUp_Acknowledgements_FollowWhatTheClientReceived()
    {
        var t = new TopicFeedTesting(recent: 2);
        await t.FeedAsync(0, 10);

        var subscription = t.Feed.Attach(t.Format, resumeAfter: 0, out var catchUp, out _);
        await TopicFeedTesting.ReadAsync(catchUp!, 1, 1);
        await TopicFeedTesting.ReadAsync(catchUp!, 2, 2);

        // Without a channel there is nothing to send; what matters is that acknowledging never throws or blocks.
        await subscription.AcknowledgeAsync(2, multiple: true);
        Assert.True(subscription.RequiresAcknowledgement);
    }
}
