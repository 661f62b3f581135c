using System.Diagnostics;

namespace Eventsourced.Testing;

/// <summary>Polls a condition until it holds or a deadline passes: the alternative to sleeping in tests.</summary>
public static class Wait
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Evaluates <paramref name="condition"/> until it returns true. An exception from the condition
    /// counts as "not yet" and is attached to the <see cref="TimeoutException"/> if time runs out.
    /// </summary>
    /// <exception cref="TimeoutException">The condition did not hold within <paramref name="timeout"/>; the message names <paramref name="description"/>.</exception>
    public static async Task UntilAsync(
        Func<Task<bool>> condition,
        TimeSpan timeout,
        string description,
        TimeSpan? interval = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var stopwatch = Stopwatch.StartNew();
        var attempts = 0;
        Exception? lastError = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            attempts++;
            try
            {
                if (await condition())
                {
                    return;
                }
                lastError = null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lastError = ex;
            }

            if (stopwatch.Elapsed >= timeout)
            {
                var message = $"Timed out after {timeout.TotalSeconds:0.###} s ({attempts} attempts) waiting until {description}"
                    + (lastError is null ? "." : $"; the last attempt threw {lastError.GetType().Name}: {lastError.Message}");
                throw lastError is null ? new TimeoutException(message) : new TimeoutException(message, lastError);
            }

            var remaining = timeout - stopwatch.Elapsed;
            var delay = interval ?? DefaultInterval;
            await Task.Delay(delay < remaining ? delay : remaining, cancellationToken);
        }
    }

    /// <summary>Synchronous-condition overload of <see cref="UntilAsync(Func{Task{bool}}, TimeSpan, string, TimeSpan?, CancellationToken)"/>.</summary>
    public static Task UntilAsync(
        Func<bool> condition,
        TimeSpan timeout,
        string description,
        TimeSpan? interval = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return UntilAsync(() => Task.FromResult(condition()), timeout, description, interval, cancellationToken);
    }
}
