using System.Diagnostics;
using Eventsourced.Broker;

namespace Eventsourced.Tests.Broker;

/// <summary>The wait between reconnect attempts: cut short by a node that comes back, never by one that was there all along.</summary>
public sealed class ReconnectWaitTests
{
    [Fact]
    public async Task NodeThatComesBack_EndsALongWaitWithinAboutAProbeInterval()
    {
        var probes = 0;
        var wait = new ReconnectWait(_ => Task.FromResult(Interlocked.Increment(ref probes) > 3), TimeProvider.System);
        var stopwatch = Stopwatch.StartNew();

        var result = await wait.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(ReconnectWaitResult.NodeAnswers, result);
        Assert.Equal(4, probes);
        Assert.InRange(stopwatch.Elapsed, 3 * ReconnectWait.ProbeInterval, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task NodeThatAnswersAllAlong_IsProbedOnce_AndTheDelayIsWaitedOut()
    {
        var probes = 0;
        var wait = new ReconnectWait(_ => Task.FromResult(Interlocked.Increment(ref probes) > 0), TimeProvider.System);
        var stopwatch = Stopwatch.StartNew();

        // Long enough for the first probe on a busy machine, whose timers may come hundreds of milliseconds late.
        var result = await wait.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);

        Assert.Equal(ReconnectWaitResult.Elapsed, result);
        Assert.Equal(1, probes);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(1990), $"returned after {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task NodeThatStaysDown_IsProbedAtTheInterval_UntilTheDelayHasPassed()
    {
        var probes = 0;
        var wait = new ReconnectWait(_ => Task.FromResult(Interlocked.Increment(ref probes) < 0), TimeProvider.System);
        var stopwatch = Stopwatch.StartNew();

        var result = await wait.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);

        Assert.Equal(ReconnectWaitResult.Elapsed, result);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(1990), $"returned after {stopwatch.Elapsed}");
        // At most one probe per interval: a node that is down is not hammered.
        Assert.InRange(probes, 1, 8);
    }

    [Fact]
    public async Task NodeSilentInTheWaitBefore_ThatAnswersTheFirstProbe_EndsTheWait()
    {
        // A node still starting: silent through one wait, it refuses the attempt after it (not listening yet) and answers
        // the next wait's first probe. Before, that wait took it for a node answering all along and waited the whole
        // delay (25 s seen in a probe, where the README promises about a second).
        var up = false;
        var probes = 0;
        var wait = new ReconnectWait(_ => Task.FromResult(Interlocked.Increment(ref probes) > 0 && Volatile.Read(ref up)), TimeProvider.System);

        // Long enough for a probe on a busy machine: a wait of 600 ms whose first timer came late had none, and the node
        // was not silent in it (a CI run failed so).
        Assert.Equal(ReconnectWaitResult.Elapsed, await wait.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None));
        Assert.True(Volatile.Read(ref probes) > 0, "the first wait probed the node");
        Volatile.Write(ref up, true);
        var stopwatch = Stopwatch.StartNew();

        var result = await wait.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(ReconnectWaitResult.NodeAnswers, result);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));

        // Answered since: a refused attempt after this is a refusal, and its wait is waited out.
        var again = Stopwatch.StartNew();
        Assert.Equal(ReconnectWaitResult.Elapsed, await wait.WaitAsync(TimeSpan.FromMilliseconds(900), CancellationToken.None));
        Assert.True(again.Elapsed >= TimeSpan.FromMilliseconds(890), $"returned after {again.Elapsed}");
    }

    [Fact]
    public async Task Stopping_EndsTheWait()
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var wait = new ReconnectWait(_ => Task.FromResult(false), TimeProvider.System);

        Assert.Equal(ReconnectWaitResult.Stopped, await wait.WaitAsync(TimeSpan.FromSeconds(30), stopping.Token));
    }
}
