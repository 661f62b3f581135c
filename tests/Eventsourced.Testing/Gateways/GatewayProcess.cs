using System.Diagnostics;
using System.Net;
using System.Text;

namespace Eventsourced.Testing.Gateways;

/// <summary>The built <c>eventsourced</c> executable, run as a real process (flags, signals, exit codes).</summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private GatewayProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { lock (_stdout) { _stdout.AppendLine(e.Data); } };
        _process.ErrorDataReceived += (_, e) => { lock (_stderr) { _stderr.AppendLine(e.Data); } };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout { get { lock (_stdout) { return _stdout.ToString(); } } }

    public string Stderr { get { lock (_stderr) { return _stderr.ToString(); } } }

    /// <summary>cmd/Eventsourced's build output for the configuration these tests were built in.</summary>
    public static string ExecutablePath
    {
        get
        {
            var testDir = AppContext.BaseDirectory;
            var configuration = testDir.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var root = new DirectoryInfo(testDir);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "eventsourced.sln")))
            {
                root = root.Parent;
            }

            var path = Path.Combine(root!.FullName, "cmd", "Eventsourced", "bin", configuration, "net10.0", "eventsourced.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"build cmd/Eventsourced first: {path} is missing");
        }
    }

    public static GatewayProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ExecutablePath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // A clean slate: no EVENTSOURCED_ settings leak in from the test run's own environment.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("EVENTSOURCED_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return new GatewayProcess(Process.Start(info)!);
    }

    /// <summary>Runs to completion (flags that print and exit).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        await using var process = Start(environment, args);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, process.Stdout, process.Stderr);
    }

    public async Task<bool> IsListeningAsync(HttpClient client)
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"gateway exited with {_process.ExitCode}:\n{Stderr}\n{Stdout}");
        }

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Options, "/");
            using var response = await client.SendAsync(request);
            return response.StatusCode == HttpStatusCode.NoContent;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"gateway did not exit within {timeout}:\n{Stderr}\n{Stdout}");
        }

        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
