using Eventsourced.Metrics;

namespace Eventsourced.Tests.Metrics;

public sealed class PerSecondCounterTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void LastSecond_CountsTheCompletedSecondOnly()
    {
        var time = new ManualTimeProvider(Start);
        var counter = new PerSecondCounter(time);

        counter.Add(3);
        counter.Add(2);
        Assert.Equal(0, counter.LastSecond); // still the current second

        time.Advance(TimeSpan.FromSeconds(1));
        counter.Add(7);
        Assert.Equal(5, counter.LastSecond);

        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(5, counter.LastSecond);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(7, counter.LastSecond);
    }

    [Fact]
    public void LastSecond_AfterAQuietGap_IsZero()
    {
        var time = new ManualTimeProvider(Start);
        var counter = new PerSecondCounter(time);
        counter.Add(4);

        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(0, counter.LastSecond);
    }
}
