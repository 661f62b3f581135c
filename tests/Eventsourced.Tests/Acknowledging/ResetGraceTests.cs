using Eventsourced.Acknowledging;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Acknowledging;

public sealed class ResetGraceTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(50);

    [Fact]
    public void AnAcknowledgedPosition_CountsOnlyOnceTheStreamStayedOpenForTheGrace()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);

        Assert.Equal(0, grace.Confirmed(1_000, received: 10, read: 10));
        time.Advance(Grace - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, grace.Confirmed(2_000, received: 10, read: 10));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1_000, grace.Confirmed(2_000, received: 10, read: 10));
        time.Advance(Grace);
        Assert.Equal(2_000, grace.Confirmed(null, received: 10, read: 10));
    }

    [Fact]
    public void UntilTheServerHasReadWhatTheClientHadSentWhenTheAcknowledgementWasSeen_NothingCounts_ThenTheGraceRunsFromThere()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);
        grace.Confirmed(1_000, received: 500, read: 100); // a reset may be in bytes 100-500, not yet read

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, grace.Confirmed(1_000, received: 900, read: 499));
        Assert.Equal(0, grace.Confirmed(1_000, received: 900, read: 500)); // read now: the grace starts
        time.Advance(Grace);
        Assert.Equal(1_000, grace.Confirmed(1_000, received: 900, read: 500));
    }

    [Fact]
    public void AfterAnAbort_WhatWasNotConfirmedBeforeIt_NeverCounts_NorAnythingSeenLater()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);
        grace.Confirmed(1_000, received: 10, read: 10);
        time.Advance(Grace);
        grace.Confirmed(2_000, received: 20, read: 20); // read 50 ms after the first, 10 ms before the abort
        grace.Confirmed(3_000, received: 30, read: 25); // not read before the abort
        time.Advance(TimeSpan.FromMilliseconds(10));

        grace.Abort();
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1_000, grace.Confirmed(4_000, received: 40, read: 40));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1_000, grace.Confirmed(5_000, received: 50, read: 50));
    }

    [Fact]
    public void AnAbortAfterTheGrace_KeepsWhatCounted()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);
        grace.Confirmed(1_000, received: 10, read: 10);
        time.Advance(Grace + TimeSpan.FromMilliseconds(1));

        grace.Abort();

        Assert.Equal(1_000, grace.Confirmed(1_000, received: 10, read: 10));
    }
}
