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

        Assert.Equal(0, grace.Confirmed(1_000));
        time.Advance(Grace - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, grace.Confirmed(2_000));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1_000, grace.Confirmed(2_000));
        time.Advance(Grace);
        Assert.Equal(2_000, grace.Confirmed(null));
    }

    [Fact]
    public void AfterAnAbort_WhatWasSeenWithinTheGraceBeforeIt_NeverCounts_NorAnythingSeenLater()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);
        grace.Confirmed(1_000);
        time.Advance(Grace);
        grace.Confirmed(2_000); // seen 50 ms after the first, 10 ms before the abort
        time.Advance(TimeSpan.FromMilliseconds(10));

        grace.Abort();
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1_000, grace.Confirmed(3_000));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1_000, grace.Confirmed(4_000));
    }

    [Fact]
    public void AnAbortAfterTheGrace_KeepsWhatCounted()
    {
        var time = new FakeTimeProvider();
        var grace = new ResetGrace(Grace, time);
        grace.Confirmed(1_000);
        time.Advance(Grace + TimeSpan.FromMilliseconds(1));

        grace.Abort();

        Assert.Equal(1_000, grace.Confirmed(1_000));
    }
}
