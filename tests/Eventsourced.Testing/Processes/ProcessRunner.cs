using System.Diagnostics;
using System.Text;

namespace Eventsourced.Testing.Processes;

/// <summary>The outcome of one finished command.</summary>
/// <param name="Command">What ran, <c>FILE ARG ARG...</c>.</param>
public sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() => $"`{Command}` exited with {ExitCode}\nstdout: {StandardOutput}\nstderr: {StandardError}";
}

/// <summary>
/// Runs a command to completion: a timeout, optional standard input, captured output. For programs that
/// keep running while a test works with them, see <see cref="ServiceProcess"/>.
/// </summary>
public static class ProcessRunner
{
    /// <param name="environment">Added to this process's environment; a null value removes a variable.</param>
    /// <param name="standardInput">Written to the command's standard input, which is then closed (it is closed at once without).</param>
    /// <exception cref="TimeoutException">Still running after <paramref name="timeout"/>; it and its children were killed. The message has its output so far.</exception>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null,
        string? standardInput = null,
        CancellationToken cancellationToken = default)
    {
        var info = ProcessStart.Create(fileName, arguments, environment, clearEnvironment: false, workingDirectory);
        var command = ProcessStart.Describe(info);
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {command}");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput.AsMemory(), cancellationToken);
            }
        }
        catch (IOException)
        {
            // It exited (or closed its input) without reading everything: its exit code tells.
        }
        finally
        {
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The same, noticed while flushing.
            }
        }

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            // Also waits for both output streams to reach their end.
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            ProcessStart.KillTree(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{command}` did not finish within {timeout.TotalSeconds:0.#} s; killed. Output so far: {Tail(stdout)} {Tail(stderr)}");
        }
        return new ProcessResult(command, process.ExitCode, Text(stdout), Text(stderr));
    }

    private static void Append(StringBuilder builder, string? line)
    {
        if (line is not null)
        {
            lock (builder)
            {
                builder.AppendLine(line);
            }
        }
    }

    private static string Text(StringBuilder builder)
    {
        lock (builder)
        {
            return builder.ToString();
        }
    }

    private static string Tail(StringBuilder builder)
    {
        var text = Text(builder).Trim();
        return text.Length <= 2000 ? text : text[^2000..];
    }
}
