using System.Net.Sockets;

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// Debian's nginx on loopback, in a directory of its own (configuration, logs, temp files, pid), in the
/// foreground, with a site configuration given by the test; never the system's nginx or its port 80.
/// </summary>
public sealed class Nginx : IAsyncDisposable
{
    private readonly ServiceProcess _process;
    private readonly DirectoryInfo _directory;

    private Nginx(ServiceProcess process, DirectoryInfo directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public string ErrorLog => ReadLog("error.log");

    /// <summary>One line per request in nginx's default format: <c>... "GET /?id=q HTTP/1.1" 200 ...</c>.</summary>
    public string AccessLog => ReadLog("access.log");

    /// <summary>
    /// Starts nginx with <paramref name="siteConfiguration"/> (the contents of an <c>http {}</c> block, such as
    /// <c>examples/nginx/eventsourced.conf</c>) that listens on <paramref name="port"/>, and waits until it accepts connections.
    /// <paramref name="mainConfiguration"/> goes into nginx.conf's main context (outside <c>http {}</c>).
    /// </summary>
    public static async Task<Nginx> StartAsync(string siteConfiguration, int port, string mainConfiguration = "")
    {
        var nginx = Tools.Require("nginx", "nginx");
        var directory = Directory.CreateTempSubdirectory("eventsourced-nginx-");
        // nginx's workers run as "nobody" when the master is root: they must reach the temp directories.
        File.SetUnixFileMode(directory.FullName, (UnixFileMode)0b111_101_101);
        var root = directory.FullName;
        Directory.CreateDirectory(Path.Combine(root, "logs"));
        await File.WriteAllTextAsync(Path.Combine(root, "eventsourced.conf"), siteConfiguration);
        await File.WriteAllTextAsync(Path.Combine(root, "nginx.conf"), $$"""
            # Written by the eventsourced end-to-end tests.
            worker_processes 1;
            {{mainConfiguration}}
            daemon off;
            pid {{root}}/nginx.pid;
            error_log {{root}}/logs/error.log info;
            events { worker_connections 256; }
            http {
                access_log {{root}}/logs/access.log;
                client_body_temp_path {{root}}/client_body;
                proxy_temp_path {{root}}/proxy;
                fastcgi_temp_path {{root}}/fastcgi;
                uwsgi_temp_path {{root}}/uwsgi;
                scgi_temp_path {{root}}/scgi;
                include {{root}}/eventsourced.conf;
            }
            """);
        var process = ServiceProcess.Start(nginx, ["-p", root + "/", "-c", "nginx.conf", "-e", root + "/logs/error.log"]);
        var server = new Nginx(process, directory, port);
        try
        {
            await Wait.UntilAsync(
                () => process.HasExited ? throw new InvalidOperationException($"nginx exited:\n{process.Output}\n{server.ErrorLog}") : Accepts(port),
                TimeSpan.FromSeconds(15), $"nginx accepts connections on 127.0.0.1:{port}");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
    }

    /// <summary>
    /// <c>nginx -s reload</c>, as <c>systemctl reload nginx</c> does: the master starts new workers with the configuration
    /// read again and tells the old ones to finish what they serve and exit. Returns once the signal is sent.
    /// </summary>
    public async Task ReloadAsync()
    {
        var root = _directory.FullName;
        using var reload = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(
            Tools.Require("nginx", "nginx"), ["-p", root + "/", "-c", "nginx.conf", "-e", root + "/logs/error.log", "-s", "reload"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var errors = await reload.StandardError.ReadToEndAsync();
        await reload.WaitForExitAsync();
        Assert.True(reload.ExitCode == 0, $"nginx -s reload: exit {reload.ExitCode}: {errors}");
    }

    /// <summary>
    /// nginx's old workers still running after a reload (<c>nginx: worker process is shutting down</c>): each serves what
    /// it had before the reload, with the old configuration, until all of it has ended.
    /// </summary>
    public IReadOnlyList<int> ShuttingDownWorkers()
    {
        var master = File.ReadAllText(Path.Combine(_directory.FullName, "nginx.pid")).Trim();
        var workers = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
            {
                continue;
            }

            try
            {
                var parent = File.ReadAllText(Path.Combine(entry, "stat")).Split(") ")[1].Split(' ')[1];
                var command = File.ReadAllText(Path.Combine(entry, "cmdline"));
                if (parent == master && command.Contains("shutting down", StringComparison.Ordinal))
                {
                    workers.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended meanwhile.
            }
        }

        return workers;
    }

    private string ReadLog(string name)
    {
        var path = Path.Combine(_directory.FullName, "logs", name);
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    private static async Task<bool> Accepts(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
