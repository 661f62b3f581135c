namespace Eventsourced.Consuming;

/// <summary>
/// The waits of a subscriber that finds its queue held (<c>queue.busy_grace</c>): the holder may be its own client's
/// previous stream or poll, still ending after an immediate reconnect. 25 ms, doubling up to 400 ms, never past the
/// grace; a queue subscriber and a poll of a held subscription wait alike.
/// </summary>
internal sealed class BusyRetry(TimeSpan grace, TimeProvider time)
{
    /// <summary>The first wait; it doubles up to <see cref="MaxRetry"/>.</summary>
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromMilliseconds(400);

    private readonly long _started = time.GetTimestamp();
    private TimeSpan _retry = FirstRetry;

    /// <summary>What is left of the grace (zero or less: over).</summary>
    public TimeSpan Remaining => grace - time.GetElapsedTime(_started);

    /// <summary>Waits before the next try; false, at once, when the grace is over.</summary>
    public async Task<bool> WaitAsync(CancellationToken cancellationToken)
    {
        var remaining = Remaining;
        if (remaining <= TimeSpan.Zero)
        {
            return false;
        }

        await Task.Delay(Wait(_retry, remaining), time, cancellationToken);
        _retry = _retry * 2 < MaxRetry ? _retry * 2 : MaxRetry;
        return true;
    }

    /// <summary>
    /// The wait before the next try: <paramref name="retry"/>, at most what is left of the grace, and never negative:
    /// the grace can run out between the check that allows a retry and this (a negative delay made Task.Delay throw,
    /// and the subscriber got a 500; the churn bench met it).
    /// </summary>
    internal static TimeSpan Wait(TimeSpan retry, TimeSpan remaining) =>
        remaining <= TimeSpan.Zero ? TimeSpan.Zero : retry < remaining ? retry : remaining;
}
