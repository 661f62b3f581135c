using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Eventsourced.Hosting;

/// <summary>
/// Shutdown in two steps: <see cref="Draining"/> (<c>/readyz</c> answers 503) at the signal, then, after
/// <c>server.drain_delay</c>, <see cref="StreamsEnd"/>. In between, streams, the listener and new subscriptions go on,
/// so that a balancer polling readiness takes the instance out of rotation before its clients are cut and its port
/// refuses them. The host runs every <see cref="IHostedLifecycleService.StoppingAsync"/> before it triggers
/// <see cref="IHostApplicationLifetime.ApplicationStopping"/> and before it stops any hosted service (Kestrel's among
/// them), so the delay waits there; an application that stops otherwise still ends its streams at ApplicationStopping.
/// </summary>
internal sealed class ShutdownDrain : IHostedLifecycleService, IDisposable
{
    private readonly CancellationTokenSource _draining = new();
    private readonly CancellationTokenSource _streamsEnd = new();
    private readonly CancellationTokenSource _timedOut = new();
    private readonly CancellationTokenSource _cutShort = new();
    private readonly TimeSpan _delay;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _begun;

    public ShutdownDrain(IOptions<ServerOptions> server, IHostApplicationLifetime lifetime)
    {
        _delay = TimeSpan.FromSeconds(server.Value.DrainDelaySeconds);
        // SIGTERM and SIGINT come here first (the console lifetime stops the application, then the host).
        lifetime.ApplicationStopping.Register(static s => _ = ((ShutdownDrain)s!).Begin(), this);
    }

    /// <summary>Fires when shutdown begins: readiness fails from then on.</summary>
    public CancellationToken Draining => _draining.Token;

    /// <summary>Fires when the streams are to end: at the shutdown signal, or <c>server.drain_delay</c> after it.</summary>
    public CancellationToken StreamsEnd => _streamsEnd.Token;

    /// <summary>Fires when the host's shutdown timeout (drain delay and <c>server.shutdown_timeout</c>) runs out: what is still open is cut.</summary>
    public CancellationToken TimedOut => _timedOut.Token;

    /// <summary>Holds the host's stop (and Kestrel's listener with it) until the drain delay has passed.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        // The host's stop token, the same for every service's stop: it fires when the shutdown timeout runs out.
        cancellationToken.UnsafeRegister(static s => Cancel((CancellationTokenSource)s!), _timedOut);
        try
        {
            await Begin().WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The shutdown timeout ran out first: end the streams now.
        }
        finally
        {
            Cancel(_streamsEnd);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Ends the drain delay now, if it is running: the streams end as they would at its end. False when the drain has
    /// not begun or its delay is over.
    /// </summary>
    public bool CutShort()
    {
        if (Volatile.Read(ref _begun) == 0 || _streamsEnd.IsCancellationRequested)
        {
            return false;
        }

        Cancel(_cutShort);
        return true;
    }

    public void Dispose()
    {
        _draining.Dispose();
        _streamsEnd.Dispose();
        _timedOut.Dispose();
        _cutShort.Dispose();
    }

    /// <summary>Starts the drain once, whichever comes first: the signal or the host's stop; completes when it is over.</summary>
    private Task Begin()
    {
        if (Interlocked.Exchange(ref _begun, 1) == 0)
        {
            _ = DrainAsync();
        }

        return _drained.Task;
    }

    private async Task DrainAsync()
    {
        Cancel(_draining);
        if (_delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(_delay, _cutShort.Token);
            }
            catch (OperationCanceledException)
            {
                // Cut short (a second signal): the streams end now.
            }
        }

        Cancel(_streamsEnd);
        _drained.TrySetResult();
    }

    private static void Cancel(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed with the container: nothing is left to end.
        }
    }
}
