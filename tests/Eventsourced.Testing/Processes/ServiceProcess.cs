using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace Eventsourced.Testing.Processes;

/// <summary>
/// A long-running program a test starts (the gateway, nginx, prometheus, a RabbitMQ node's launcher, a
/// client in a network namespace): output captured, stopped with a signal, and killed with its children
/// if it does not stop, so no test leaves a process behind, not even when the test host exits without
/// disposing it. For commands that run to completion, see <see cref="ProcessRunner"/>.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    // Still running when the test host exits normally (or on SIGTERM): killed then.
    private static readonly ConcurrentDictionary<ServiceProcess, byte> Live = new();

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    static ServiceProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        foreach (var service in Live.Keys)
        {
            service.Kill();
        }
    };

    private ServiceProcess(Process process, string description)
    {
        _process = process;
        Description = description;
    }

    /// <summary><c>FILE ARG ARG...</c>.</summary>
    public string Description { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <exception cref="InvalidOperationException">It has not exited yet.</exception>
    public int ExitCode => _process.ExitCode;

    /// <summary>Standard output and error, interleaved as they arrived.</summary>
    public string Output => Read(_output);

    public string Stdout => Read(_stdout);

    public string Stderr => Read(_stderr);

    /// <param name="environment">Additions to this process's environment, or the whole environment with <paramref name="clearEnvironment"/>; a null value removes a variable.</param>
    public static ServiceProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        bool clearEnvironment = false,
        string? workingDirectory = null)
    {
        var info = ProcessStart.Create(fileName, arguments, environment, clearEnvironment, workingDirectory);
        var process = new Process { StartInfo = info };
        var service = new ServiceProcess(process, ProcessStart.Describe(info));
        process.OutputDataReceived += (_, e) => service.Append(service._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(service._stderr, e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {service.Description}");
        }
        Live[service] = 0;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Sends <paramref name="signal"/> (a <see cref="Signals"/> number) to the process, unless it has exited.</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited)
        {
            Signals.Send(_process.Id, signal);
        }
    }

    /// <summary>Waits until the process exits and its output is read, and returns its exit code.</summary>
    /// <exception cref="TimeoutException">Still running after <paramref name="timeout"/>; the message has its output.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!await TryWaitForExitAsync(timeout, cancellationToken))
        {
            throw new TimeoutException($"{Description} still runs after {timeout.TotalSeconds:0.#} s. Output:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>Waits until the process exits and its output is read; false when it still runs after <paramref name="timeout"/>.</summary>
    public async Task<bool> TryWaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(bound.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>SIGKILL to the process and its children, without waiting.</summary>
    public void Kill() => ProcessStart.KillTree(_process);

    /// <summary>SIGKILL to the process and its children, and waits until it is gone.</summary>
    /// <exception cref="TimeoutException">It survived SIGKILL for 15 s.</exception>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        Kill();
        await WaitForExitAsync(TimeSpan.FromSeconds(15), cancellationToken);
    }

    /// <summary>SIGTERM, then SIGKILL for it and its children if it still runs after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        if (_process.HasExited)
        {
            return;
        }
        try
        {
            Signal(Signals.Terminate);
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
        if (!await TryWaitForExitAsync(grace, cancellationToken))
        {
            await KillAsync(cancellationToken);
        }
    }

    /// <summary>Stops the process (SIGTERM, SIGKILL after 10 s) unless it has exited, and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            Live.TryRemove(this, out _);
            _process.Dispose();
        }
    }

    public override string ToString() => Description;

    private void Append(StringBuilder stream, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
            stream.AppendLine(line);
        }
    }

    private string Read(StringBuilder builder)
    {
        lock (_output)
        {
            return builder.ToString();
        }
    }
}
