using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// A second SIGTERM or SIGINT while <c>server.drain_delay</c> runs ends the delay: the streams end now, as they would at
/// its end, and the shutdown goes on within <c>server.shutdown_timeout</c>. Without it an operator who pressed Ctrl+C
/// twice, or a script that signalled again, waited out the whole delay or killed the process (streams cut without their
/// end). The first signal is the console lifetime's to handle: it starts the shutdown, and this only counts it. Only the
/// gateway's own program registers this; an application embedding the library keeps its own signal handling.
/// </summary>
internal sealed class RepeatedStopSignal(ShutdownDrain drain, ILogger<RepeatedStopSignal> logger) : IHostedService, IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _signals;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registrations.ForEach(registration => registration.Dispose());

    private void OnSignal(PosixSignalContext context)
    {
        // Handlers of one signal run in no promised order: the count, not the drain's state, tells the first signal from a second.
        if (Interlocked.Increment(ref _signals) > 1 && drain.CutShort())
        {
            HostingLog.DrainCutShort(logger, context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM");
        }
    }
}
