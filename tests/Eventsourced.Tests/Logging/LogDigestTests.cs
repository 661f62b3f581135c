using Eventsourced.Logging;

namespace Eventsourced.Tests.Logging;

public sealed class LogDigestTests
{
    private readonly List<string> _lines = [];

    private LogDigest Digest(TimeSpan interval) => new(
        interval, TimeProvider.System, key => _lines.Add($"first {key}"), (key, count, _) => _lines.Add($"{count} more {key}"));

    [Fact]
    public void Burst_FirstAtOnce_ThenOneLinePerKeyWithTheCount()
    {
        using var digest = Digest(TimeSpan.FromHours(1));
        for (var i = 0; i < 1000; i++)
        {
            digest.Add("no broker connection is up");
            if (i % 100 == 0)
            {
                digest.Add("other");
            }
        }

        Assert.Equal(["first no broker connection is up", "first other"], _lines);
        digest.Flush();
        Assert.Equal(["first no broker connection is up", "first other", "999 more no broker connection is up", "9 more other"], _lines);
    }

    [Fact]
    public void QuietForAnInterval_TheNextOccurrenceIsWrittenAtOnceAgain()
    {
        using var digest = Digest(TimeSpan.FromHours(1));
        digest.Add("a");
        digest.Flush(); // nothing more happened: forgotten
        digest.Add("a");

        Assert.Equal(["first a", "first a"], _lines);
    }

    [Fact]
    public void ManyKeys_AreBounded()
    {
        using var digest = Digest(TimeSpan.FromHours(1));
        for (var i = 0; i < LogDigest.MaxKeys + 50; i++)
        {
            digest.Add($"reason {i}");
        }

        digest.Flush();
        Assert.Equal(LogDigest.MaxKeys + 2, _lines.Count);
        Assert.Equal("49 more (other reasons)", _lines[^1]);
    }

    [Fact]
    public async Task Timer_WritesTheCountsWithoutAnotherOccurrence()
    {
        var digest = Digest(TimeSpan.FromMilliseconds(100));
        digest.Add("a");
        digest.Add("a");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_lines.Contains("1 more a") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        digest.Dispose();
        Assert.Equal(["first a", "1 more a"], _lines);
    }

    [Fact]
    public void Dispose_WritesWhatIsPending()
    {
        var digest = Digest(TimeSpan.FromHours(1));
        digest.Add("a");
        digest.Add("a");
        digest.Add("a");
        digest.Dispose();
        digest.Add("a");

        Assert.Equal(["first a", "2 more a"], _lines);
    }
}
