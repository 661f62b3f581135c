using System.Collections;
using System.Net;
using Eventsourced.Testing.Processes;

namespace Eventsourced.Testing.Gateways;

/// <summary>The built <c>eventsourced</c> executable, run as a real process (flags, signals, exit codes).</summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly ServiceProcess _process;

    private GatewayProcess(ServiceProcess process)
    {
        _process = process;
    }

    public string Stdout => _process.Stdout;

    public bool HasExited => _process.HasExited;

    /// <summary>The gateway's process id.</summary>
    public int Id => _process.Id;

    /// <summary>The gateway's resident set size now (<c>VmRSS</c> of <c>/proc/PID/status</c>), in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS for process {_process.Id}");
    }

    public string Stderr => _process.Stderr;

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

    public static GatewayProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(null, environment, args);

    /// <summary>
    /// Runs to completion as an unprivileged user: as root through <c>setpriv</c> as nobody (uid and gid 65534, no groups,
    /// no new privileges), else as the test's own user.
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunUnprivilegedAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        await using var process = Environment.UserName == "root"
            ? new GatewayProcess(ServiceProcess.Start("setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--", "dotnet", ExecutablePath, .. args], Changes(environment)))
            : Start(environment, args);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, process.Stdout, process.Stderr);
    }

    /// <summary>Runs the gateway with its open-file limit (soft and hard) set to <paramref name="fileLimit"/> by <c>prlimit</c>.</summary>
    public static GatewayProcess StartWithFileLimit(int fileLimit, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(fileLimit, environment, args);

    private static GatewayProcess Start(int? fileLimit, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var changes = Changes(environment);
        return fileLimit is { } limit
            ? new GatewayProcess(ServiceProcess.Start("prlimit", [$"--nofile={limit}:{limit}", "dotnet", ExecutablePath, .. args], changes))
            : new GatewayProcess(ServiceProcess.Start("dotnet", [ExecutablePath, .. args], changes));
    }

    private static Dictionary<string, string?> Changes(IReadOnlyDictionary<string, string> environment)
    {
        // A clean slate: no EVENTSOURCED_ settings leak in from the test run's own environment.
        var changes = new Dictionary<string, string?>();
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            if (variable.Key is string name && name.StartsWith("EVENTSOURCED_", StringComparison.OrdinalIgnoreCase))
            {
                changes[name] = null;
            }
        }

        foreach (var (key, value) in environment)
        {
            changes[key] = value;
        }

        return changes;
    }

    /// <summary>Runs to completion (flags that print and exit).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        await using var process = Start(environment, args);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, process.Stdout, process.Stderr);
    }

    /// <summary>
    /// A client of the process on 127.0.0.1:<paramref name="port"/>, once the process answers there (within
    /// <paramref name="timeout"/>, else <see cref="TimeoutException"/>; an exited process fails at once).
    /// </summary>
    public async Task<HttpClient> ListeningClientAsync(int port, TimeSpan timeout)
    {
        var client = GatewayServer.NewClient(new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await Wait.UntilAsync(async () => await IsListeningAsync(client), timeout, "gateway process listening");
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
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

    /// <summary>Sends a signal named as <c>kill -NAME</c> takes it (<c>TERM</c>, <c>INT</c>, ...).</summary>
    public void Signal(string signal) => _process.Signal(Signals.Parse(signal));

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        if (!await _process.TryWaitForExitAsync(timeout))
        {
            throw new TimeoutException($"gateway did not exit within {timeout}:\n{Stderr}\n{Stdout}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the gateway (and its children) if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await _process.KillAsync();
        }

        await _process.DisposeAsync();
    }
}
