namespace Eventsourced.Broker;

/// <summary>What ended a <see cref="ReconnectWait"/>.</summary>
internal enum ReconnectWaitResult
{
    /// <summary>The backoff delay passed.</summary>
    Elapsed,

    /// <summary>The node answers again after it had not: reconnect now, with the backoff started over.</summary>
    NodeAnswers,

    /// <summary>The gateway is stopping.</summary>
    Stopped,
}

/// <summary>
/// The wait between two connection attempts. The backoff delay spares a node that refuses or fails connections,
/// but a node that comes back after a long outage would wait out the last, long delay. So while it waits, this
/// probes the node every <see cref="ProbeInterval"/> (<see cref="NodeProbe"/>: one short TCP connection) and ends
/// the wait as soon as a node that did not answer answers. A node that answers all along (it refuses the login,
/// say) is probed once and then left alone until the delay has passed. "Did not answer" carries over from the
/// wait before: a node that was silent then and came back just after the attempt between the two waits (a
/// node still starting) answers the first probe of this wait, and is reconnected at once instead of after
/// the whole, longer delay.
/// </summary>
internal sealed class ReconnectWait(Func<CancellationToken, Task<bool>> probe, TimeProvider time)
{
    /// <summary>How often a node that does not answer is probed: a node back is reconnected within about this.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Timers count whole milliseconds: a wait of less than one completes at once, so a wait whose remainder is below
    /// this is over (else its last millisecond would probe the node in a tight loop).
    /// </summary>
    private static readonly TimeSpan TimerResolution = TimeSpan.FromMilliseconds(1);

    /// <summary>Whether the node's last probe, in this wait or the one before, went unanswered.</summary>
    private bool _silent;

    public async Task<ReconnectWaitResult> WaitAsync(TimeSpan delay, CancellationToken stopping)
    {
        var started = time.GetTimestamp();
        try
        {
            while (true)
            {
                var remaining = delay - time.GetElapsedTime(started);
                if (remaining < TimerResolution)
                {
                    return ReconnectWaitResult.Elapsed;
                }

                await Task.Delay(remaining < ProbeInterval ? remaining : ProbeInterval, time, stopping);
                if (delay - time.GetElapsedTime(started) < TimerResolution)
                {
                    return ReconnectWaitResult.Elapsed;
                }

                if (!await probe(stopping))
                {
                    _silent = true;
                }
                else if (_silent)
                {
                    _silent = false;
                    return ReconnectWaitResult.NodeAnswers;
                }
                else
                {
                    // Answering, yet the attempt before failed: probing again teaches nothing until the delay is over.
                    remaining = delay - time.GetElapsedTime(started);
                    if (remaining >= TimerResolution)
                    {
                        await Task.Delay(remaining, time, stopping);
                    }

                    return ReconnectWaitResult.Elapsed;
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return ReconnectWaitResult.Stopped;
        }
    }
}
