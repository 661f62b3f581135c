using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// The signals the gateway's own program answers beyond the console lifetime's. Only that program registers this; an
/// application embedding the library keeps its own signal handling.
/// <list type="bullet">
/// <item>SIGHUP, which the runtime would let end the process at once (exit 129: every stream cut without its end, no log
/// line). Service managers send it to ask for a reload (systemd's <c>ExecReload</c>, <c>kill -HUP</c> as for nginx),
/// and a closing terminal sends it too. The gateway reads its configuration once, at start, so it keeps serving and
/// says that a restart applies changes (a restart ends streams properly, and an EventSource reconnects).</item>
/// <item>A second SIGTERM or SIGINT while <c>server.drain_delay</c> runs ends the delay: the streams end now, as they
/// would at its end, and the shutdown goes on within <c>server.shutdown_timeout</c>. Without it an operator who pressed
/// Ctrl+C twice, or a script that signalled again, waited out the whole delay or killed the process (streams cut without
/// their end). The first signal is the console lifetime's to handle: it starts the shutdown, and this only counts it.</item>
/// </list>
/// </summary>
internal sealed class ProcessSignals(ShutdownDrain drain, ILogger<ProcessSignals> logger) : IHostedService, IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _stopSignals;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnHangup));
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStop));
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStop));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registrations.ForEach(registration => registration.Dispose());

    private void OnHangup(PosixSignalContext context)
    {
        context.Cancel = true;
        HostingLog.HangupIgnored(logger);
    }

    private void OnStop(PosixSignalContext context)
    {
        // Handlers of one signal run in no promised order: the count, not the drain's state, tells the first signal from a second.
        if (Interlocked.Increment(ref _stopSignals) > 1 && drain.CutShort())
        {
            HostingLog.DrainCutShort(logger, context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM");
        }
    }
}
