using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// SIGHUP, which the runtime would let end the process at once (exit 129: every stream cut without its end, no log
/// line). Service managers send it to ask for a reload (systemd's <c>ExecReload</c>, <c>kill -HUP</c> as for nginx),
/// and a closing terminal sends it too. The gateway reads its configuration once, at start, so it keeps serving and
/// says that a restart applies changes (a restart ends streams properly, and an EventSource reconnects). Only the
/// gateway's own program registers this; an application embedding the library keeps its own signal handling.
/// </summary>
internal sealed class HangupSignal(ILogger<HangupSignal> logger) : IHostedService, IDisposable
{
    private PosixSignalRegistration? _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                HostingLog.HangupIgnored(logger);
            });
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _registration?.Dispose();
}
