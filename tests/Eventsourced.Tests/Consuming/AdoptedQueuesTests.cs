using Eventsourced.Consuming;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Consuming;

public sealed class AdoptedQueuesTests
{
    [Fact]
    public void RefusedQueue_IsRemembered_UntilItsLifetimeEnds()
    {
        var time = new FakeTimeProvider();
        var adopted = new AdoptedQueues(time);
        adopted.Add("42");

        Assert.True(adopted.Contains("42"));
        Assert.False(adopted.Contains("43"));
        time.Advance(AdoptedQueues.Lifetime - TimeSpan.FromSeconds(1));
        Assert.True(adopted.Contains("42"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(adopted.Contains("42"));
        Assert.Equal(0, adopted.Count);
    }

    [Fact]
    public void RemovedQueue_IsForgotten()
    {
        var adopted = new AdoptedQueues(new FakeTimeProvider());
        adopted.Add("42");
        adopted.Remove("42");

        Assert.False(adopted.Contains("42"));
    }

    [Fact]
    public void FullSet_TakesNoMore_UntilEntriesExpire()
    {
        var time = new FakeTimeProvider();
        var adopted = new AdoptedQueues(time, capacity: 2);
        adopted.Add("a");
        time.Advance(TimeSpan.FromMinutes(5));
        adopted.Add("b");
        adopted.Add("c");

        Assert.Equal(2, adopted.Count);
        Assert.False(adopted.Contains("c"));

        time.Advance(TimeSpan.FromMinutes(5)); // "a" has expired, "b" has not
        adopted.Add("c");

        Assert.True(adopted.Contains("b"));
        Assert.True(adopted.Contains("c"));
        Assert.False(adopted.Contains("a"));
    }
}
