using System.Threading.Channels;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Http;

public sealed class SubscriptionHoldTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(string Name, SubscriptionEndReason Reason)> _ended = [];

    [Fact]
    public void Kept_IsTakenByTheNextRequest_AndBusyMeanwhile()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        var held = Held("q");
        Assert.True(hold.TryAdd(held));
        Assert.False(hold.TryTake("q", null, out _, out _), "in use by the request that opened it");

        hold.Keep(held);
        Assert.True(hold.TryTake("q", null, out var taken, out _));
        Assert.Same(held, taken);
        Assert.False(hold.TryTake("q", null, out _, out _));
        Assert.True(hold.TryTake("other", null, out var none, out _));
        Assert.Null(none);
    }

    [Fact]
    public void Kept_WithoutARequestForTheIdleTime_Ends()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        var held = Held("q");
        hold.TryAdd(held);
        hold.Keep(held);

        _time.Advance(Idle - TimeSpan.FromSeconds(1));
        Assert.Empty(_ended);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal([("q", SubscriptionEndReason.HoldExpired)], _ended);
        Assert.Equal(0, hold.Count);
        Assert.True(hold.TryTake("q", null, out var none, out _));
        Assert.Null(none);
    }

    [Fact]
    public void TakenBeforeTheIdleTime_IsNotEnded_AndTheIdleTimeStartsAgainWhenKept()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        var held = Held("q");
        hold.TryAdd(held);
        hold.Keep(held);
        _time.Advance(Idle - TimeSpan.FromSeconds(1));
        hold.TryTake("q", null, out _, out _);
        _time.Advance(Idle * 2);
        Assert.Empty(_ended);

        hold.Keep(held);
        _time.Advance(Idle - TimeSpan.FromSeconds(1));
        Assert.Empty(_ended);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([("q", SubscriptionEndReason.HoldExpired)], _ended);
    }

    [Fact]
    public async Task Stopping_EndsTheIdleOnes_AndWhatIsKeptAfterwards()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        var idle = Held("idle");
        var busy = Held("busy");
        hold.TryAdd(idle);
        hold.Keep(idle);
        hold.TryAdd(busy);

        await _stopping.CancelAsync();
        Assert.Equal([("idle", SubscriptionEndReason.Shutdown)], _ended);

        hold.Keep(busy);
        Assert.Equal([("idle", SubscriptionEndReason.Shutdown), ("busy", SubscriptionEndReason.Shutdown)], _ended);
        Assert.False(hold.TryAdd(Held("new")));
    }

    [Fact]
    public async Task TakeAsync_ANameInUse_IsTriedAgainForTheBusyGrace_AndTakenOnceItsRequestIsDone()
    {
        // A client whose poll was cut polls again at once: its previous poll is still in use until the gateway
        // notices that its client left. That poll is given the busy grace a subscriber of a held queue gets,
        // instead of a 503 at once.
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token, busyGrace: TimeSpan.FromSeconds(2));
        var held = Held("q");
        hold.TryAdd(held);

        var taking = hold.TakeAsync("q", null, CancellationToken.None);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.False(taking.IsCompleted);
        hold.Keep(held); // the previous poll ends
        for (var i = 0; i < 10 && !taking.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(5);
        }

        var (taken, taker, _) = await taking;
        Assert.True(taken);
        Assert.Same(held, taker);
    }

    [Fact]
    public async Task TakeAsync_ANameStillInUseAfterTheBusyGrace_IsBusy()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token, busyGrace: TimeSpan.FromSeconds(2));
        hold.TryAdd(Held("q"));

        var taking = hold.TakeAsync("q", null, CancellationToken.None);
        for (var i = 0; i < 40 && !taking.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(5);
        }

        Assert.True(taking.IsCompleted, "answered once the grace is over");
        Assert.Equal((false, (HeldSubscription?)null, false), await taking);
        Assert.True(_time.GetUtcNow() - _time.Start >= TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task TakeAsync_WithoutABusyGrace_IsBusyAtOnce()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        hold.TryAdd(Held("q"));

        var taking = hold.TakeAsync("q", null, CancellationToken.None);

        Assert.True(taking.IsCompleted);
        Assert.False((await taking).Taken);
    }

    [Fact]
    public void Forgotten_IsNoLongerHeld()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        var held = Held("q");
        hold.TryAdd(held);
        hold.Forget(held);

        Assert.True(hold.TryTake("q", null, out var none, out _));
        Assert.Null(none);
        Assert.True(hold.TryAdd(Held("q")));
    }

    [Fact]
    public void PerClientLimit_CountsHeldSubscriptions_InUseOrWaiting_UntilTheyEnd()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token, maxPerClient: 2);
        var first = Held("q1", "203.0.113.7");
        var second = Held("q2", "203.0.113.7");
        Assert.True(hold.TryAdd(first));
        Assert.True(hold.TryAdd(second));
        hold.Keep(first);
        hold.Keep(second);

        // Both wait for their next poll: the client still holds two.
        Assert.False(hold.HasRoomFor("203.0.113.7"));
        Assert.False(hold.TryAdd(Held("q3", "203.0.113.7"), out var tooMany));
        Assert.True(tooMany);
        Assert.True(hold.HasRoomFor("198.51.100.1"), "another client is counted apart");
        Assert.True(hold.TryAdd(Held("q4", "198.51.100.1"), out tooMany));
        Assert.False(tooMany);

        _time.Advance(Idle);
        Assert.True(hold.HasRoomFor("203.0.113.7"), "expired ones no longer count");
        var third = Held("q3", "203.0.113.7");
        Assert.True(hold.TryAdd(third));
        Assert.True(hold.TryAdd(Held("q5", "203.0.113.7")));
        Assert.False(hold.HasRoomFor("203.0.113.7"));
        hold.Forget(third);
        Assert.True(hold.HasRoomFor("203.0.113.7"), "one its request ended no longer counts");
    }

    [Fact]
    public void PerClientLimit_AHeldSubscriptionTakenByAnotherClient_CountsForThatClientFromThen()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token, maxPerClient: 2);
        var first = Held("q1", "203.0.113.7");
        var second = Held("q2", "203.0.113.7");
        hold.TryAdd(first);
        hold.TryAdd(second);
        hold.Keep(first);
        hold.Keep(second);
        Assert.False(hold.HasRoomFor("203.0.113.7"));

        // Its queue polled from another address (the client's address changed, or another client reads the queue).
        Assert.True(hold.TryTake("q1", "198.51.100.1", out var taken, out var tooMany));
        Assert.Same(first, taken);
        Assert.False(tooMany);
        Assert.Equal("198.51.100.1", first.Client);
        Assert.True(hold.HasRoomFor("203.0.113.7"), "the first address no longer holds it");
        hold.Keep(first);

        // The second address may hold two: the one it took and one more, then no third, taken or opened.
        Assert.True(hold.TryAdd(Held("q3", "198.51.100.1")));
        Assert.False(hold.TryTake("q2", "198.51.100.1", out var none, out tooMany));
        Assert.Null(none);
        Assert.True(tooMany);
        Assert.Equal("203.0.113.7", second.Client);

        // Refused so, it is still the first address's, waiting, and ends after the idle time from its last Keep.
        Assert.True(hold.TryTake("q2", "203.0.113.7", out taken, out tooMany));
        Assert.Same(second, taken);
        hold.Keep(second);
        Assert.False(hold.TryTake("q2", "198.51.100.1", out _, out _));
        _time.Advance(Idle);
        Assert.Contains(("q2", SubscriptionEndReason.HoldExpired), _ended);
        Assert.True(hold.HasRoomFor("203.0.113.7"));
    }

    [Fact]
    public void PerClientLimit_Zero_IsNoLimit()
    {
        var hold = new SubscriptionHold(Idle, _time, _stopping.Token);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(hold.TryAdd(Held($"q{i}", "203.0.113.7")));
        }

        Assert.True(hold.HasRoomFor("203.0.113.7"));
    }

    private HeldSubscription Held(string name, string client = "") => new(name, new NoSubscription(name), 0, (h, reason) =>
    {
        _ended.Add((h.Name, reason));
        return Task.CompletedTask;
    }, client);

    private sealed class NoSubscription(string name) : ISubscription
    {
        public string Name => name;

        public string Node => "-";

        public ChannelReader<OutboundItem> Items { get; } = Channel.CreateUnbounded<OutboundItem>().Reader;

        public SubscriptionEndReason? EndReason => null;

        public void QueueHeartbeat()
        {
        }

        public void QueueWakeup()
        {
        }

        public void Taken(OutboundItem control)
        {
        }

        public void Stop()
        {
        }

        public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
