using Eventsourced.Broker;

namespace Eventsourced.Tests.Broker;

public sealed class BackoffTests
{
    [Fact]
    public void Delay_GrowsExponentially_WithinHalfToFullOfTheCap()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), new Random(1));
        for (var attempt = 0; attempt < 12; attempt++)
        {
            var cap = Math.Min(30_000, 500 * Math.Pow(2, attempt));
            for (var i = 0; i < 200; i++)
            {
                var delay = backoff.Delay(attempt).TotalMilliseconds;
                Assert.InRange(delay, cap / 2, cap);
            }
        }
    }

    [Fact]
    public void Delay_IsJittered()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), new Random(7));
        var delays = Enumerable.Range(0, 50).Select(_ => backoff.Delay(3)).Distinct().Count();
        Assert.True(delays > 40, $"only {delays} distinct delays");
    }

    [Fact]
    public void Delay_HugeAttempt_StaysAtTheCap()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2));
        Assert.InRange(backoff.Delay(int.MaxValue).TotalMilliseconds, 1000, 2000);
    }

    [Fact]
    public void Max_BelowInitial_IsRaisedToInitial()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(5), backoff.Max);
    }
}
