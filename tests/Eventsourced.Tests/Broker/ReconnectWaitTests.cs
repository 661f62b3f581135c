using Eventsourced.Broker;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Broker;

/// <summary>
/// The wait between reconnect attempts: cut short by a node that comes back, never by one that was there all along.
/// The clock is a <see cref="FakeTimeProvider"/> moved by the test, so a busy machine's late timers cannot change
/// what a wait sees (the real clock made one of these fail on CI when a 250 ms timer came 2 s late).
/// </summary>
public sealed class ReconnectWaitTests
{
    private static readonly TimeSpan Interval = ReconnectWait.ProbeInterval;

    [Fact]
    public async Task NodeThatComesBack_EndsALongWaitAtTheProbeThatFindsIt()
    {
        var probes = new Probes(answersFrom: 4);
        var time = new FakeTimeProvider();
        var wait = new ReconnectWait(probes.Probe, time);

        var waiting = wait.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        for (var step = 1; step <= 3; step++)
        {
            await AdvanceAsync(time, Interval, () => probes.Count == step);
            Assert.False(waiting.IsCompleted, $"ended after {step} probes of a node that does not answer");
        }

        await AdvanceAsync(time, Interval, () => waiting.IsCompleted);

        Assert.Equal(ReconnectWaitResult.NodeAnswers, await waiting);
        Assert.Equal(4, probes.Count);
    }

    [Fact]
    public async Task NodeThatAnswersAllAlong_IsProbedOnce_AndTheDelayIsWaitedOut()
    {
        var probes = new Probes(answersFrom: 1);
        var time = new FakeTimeProvider();
        var wait = new ReconnectWait(probes.Probe, time);

        var waiting = wait.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        await AdvanceAsync(time, Interval, () => probes.Count == 1);
        await AdvanceAsync(time, TimeSpan.FromSeconds(2) - Interval - TimeSpan.FromMilliseconds(1), () => true);
        Assert.False(waiting.IsCompleted, "ended before the delay had passed");
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(1), () => waiting.IsCompleted);

        Assert.Equal(ReconnectWaitResult.Elapsed, await waiting);
        Assert.Equal(1, probes.Count);
    }

    [Fact]
    public async Task NodeThatStaysDown_IsProbedOncePerInterval_UntilTheDelayHasPassed()
    {
        var probes = new Probes(answersFrom: int.MaxValue);
        var time = new FakeTimeProvider();
        var wait = new ReconnectWait(probes.Probe, time);

        var delay = TimeSpan.FromSeconds(2);
        var waiting = wait.WaitAsync(delay, CancellationToken.None);
        var intervals = (int)(delay / Interval);
        for (var step = 1; step < intervals; step++)
        {
            await AdvanceAsync(time, Interval, () => probes.Count == step);
            Assert.False(waiting.IsCompleted, $"ended after {step} intervals of {intervals}");
        }

        await AdvanceAsync(time, Interval, () => waiting.IsCompleted);

        Assert.Equal(ReconnectWaitResult.Elapsed, await waiting);
        // One probe per interval, none at the end of the delay: a node that is down is not hammered.
        Assert.Equal(intervals - 1, probes.Count);
    }

    [Fact]
    public async Task NodeSilentInTheWaitBefore_ThatAnswersTheFirstProbe_EndsTheWait()
    {
        // A node still starting: silent through one wait, it refuses the attempt after it (not listening yet) and answers
        // the next wait's first probe. Before, that wait took it for a node answering all along and waited the whole
        // delay (25 s seen in a probe, where the README promises about a second).
        var probes = new Probes(answersFrom: int.MaxValue);
        var time = new FakeTimeProvider();
        var wait = new ReconnectWait(probes.Probe, time);

        var first = wait.WaitAsync(TimeSpan.FromMilliseconds(600), CancellationToken.None);
        await AdvanceAsync(time, Interval, () => probes.Count == 1);
        await AdvanceAsync(time, Interval, () => probes.Count == 2);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(100), () => first.IsCompleted);
        Assert.Equal(ReconnectWaitResult.Elapsed, await first);
        Assert.Equal(2, probes.Count);

        probes.AnswerFromNow();
        var second = wait.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await AdvanceAsync(time, Interval, () => second.IsCompleted);
        Assert.Equal(ReconnectWaitResult.NodeAnswers, await second);
        Assert.Equal(3, probes.Count);

        // Answered since: a refused attempt after this is a refusal, and its wait is waited out after one probe.
        var third = wait.WaitAsync(TimeSpan.FromMilliseconds(900), CancellationToken.None);
        await AdvanceAsync(time, Interval, () => probes.Count == 4);
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(900) - Interval - TimeSpan.FromMilliseconds(1), () => true);
        Assert.False(third.IsCompleted, "a node answering all along ended the wait");
        await AdvanceAsync(time, TimeSpan.FromMilliseconds(1), () => third.IsCompleted);
        Assert.Equal(ReconnectWaitResult.Elapsed, await third);
        Assert.Equal(4, probes.Count);
    }

    [Fact]
    public async Task Stopping_EndsTheWait()
    {
        using var stopping = new CancellationTokenSource();
        var time = new FakeTimeProvider();
        var wait = new ReconnectWait(_ => Task.FromResult(false), time);

        var waiting = wait.WaitAsync(TimeSpan.FromSeconds(30), stopping.Token);
        await AdvanceAsync(time, Interval, () => true);
        Assert.False(waiting.IsCompleted);
        await stopping.CancelAsync();

        Assert.Equal(ReconnectWaitResult.Stopped, await waiting);
    }

    /// <summary>
    /// Moves the fake clock and waits (real time, bounded) until the wait has reacted. Its continuations usually run
    /// inside <see cref="FakeTimeProvider.Advance"/>; the bound covers a scheduler that runs them a little later.
    /// </summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by, Func<bool> reacted)
    {
        time.Advance(by);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!reacted())
        {
            Assert.True(DateTime.UtcNow < deadline, $"the wait did not react to the clock moving {by.TotalMilliseconds} ms");
            await Task.Delay(5);
        }
    }

    /// <summary>A node that answers from its Nth probe on (1-based), counting the probes.</summary>
    private sealed class Probes(int answersFrom)
    {
        private int _count;
        private int _answersFrom = answersFrom;

        public int Count => Volatile.Read(ref _count);

        public void AnswerFromNow() => Volatile.Write(ref _answersFrom, Count + 1);

        public Task<bool> Probe(CancellationToken cancellationToken) =>
            Task.FromResult(Interlocked.Increment(ref _count) >= Volatile.Read(ref _answersFrom));
    }
}
