using System.Net;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Deployment;

/// <summary>
/// What <c>make publish</c> writes to <c>out/eventsourced</c> (and the Dockerfile copies to <c>/app</c>), run the way
/// the image and the systemd unit run it: as an unprivileged user (uid/gid 1654, the .NET images' "app"),
/// configured by <c>/etc/eventsourced/config.yml</c>. The file exists only in a private mount namespace
/// (an overlay on /etc), so the machine's real /etc is never changed.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class UnprivilegedRunTests(BrokerFixture broker)
{
    /// <summary>The "app" user of the mcr.microsoft.com/dotnet images (APP_UID), which the Dockerfile runs as.</summary>
    private const int AppUid = 1654;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PublishedOutput_AsUnprivilegedUser_ReadsEtcConfigAndServesStreams()
    {
        RequireRoot();
        var unshare = Tools.Require("unshare", "util-linux");
        var setpriv = Tools.Require("setpriv", "util-linux");
        var published = RepoPaths.PublishedGateway;
        var etcHadEventsourced = Directory.Exists("/etc/eventsourced");
        var port = FreePort.Next();
        var work = Directory.CreateTempSubdirectory("eventsourced-unprivileged-");
        try
        {
            var root = work.FullName;
            File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
            // /app of the image: root's files, readable and executable by everyone, writable by no one else.
            var app = Path.Combine(root, "app");
            CopyDirectory(published, app);
            // /etc/eventsourced/config.yml: root's, readable by the service's group only (it holds broker credentials).
            var upper = Path.Combine(root, "etc-upper");
            var config = Path.Combine(upper, "eventsourced", "config.yml");
            Directory.CreateDirectory(Path.GetDirectoryName(config)!);
            Directory.CreateDirectory(Path.Combine(root, "etc-work"));
            await File.WriteAllTextAsync(config, $"""
                # /etc/eventsourced/config.yml, written by {nameof(UnprivilegedRunTests)} into a private mount namespace.
                server:
                  address: 127.0.0.1:{port}
                  heartbeat: 1
                broker:
                  node:
                    - {broker.AmqpUrl}
                queue:
                  pattern: deployed-${"{"}query:id{"}"}
                """);
            await RunCheckedAsync("chown", ["-R", $"0:{AppUid}", Path.Combine(upper, "eventsourced")]);
            File.SetUnixFileMode(Path.Combine(upper, "eventsourced"), (UnixFileMode)0b111_101_000);
            File.SetUnixFileMode(config, (UnixFileMode)0b110_100_000);

            var environment = new Dictionary<string, string?> { ["PATH"] = "/usr/local/bin:/usr/bin:/bin", ["HOME"] = "/nonexistent" };
            await using var gateway = ServiceProcess.Start(unshare,
            [
                "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=$1,workdir=$2\" /etc"
                    + " && exec \"$3\" --reuid=\"$4\" --regid=\"$4\" --clear-groups --no-new-privs -- \"$5\"",
                "sh", upper, Path.Combine(root, "etc-work"), setpriv, AppUid.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Path.Combine(app, "eventsourced"),
            ], environment, clearEnvironment: true);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = System.Threading.Timeout.InfiniteTimeSpan };
            await Wait.UntilAsync(() => gateway.HasExited ? throw new InvalidOperationException($"the gateway exited:\n{gateway.Output}") : Listens(client),
                Timeout, $"the published gateway listens on port {port} (the port from /etc/eventsourced/config.yml)");

            // The process that serves is the published executable, running as uid and gid 1654, with no groups.
            var status = await File.ReadAllLinesAsync($"/proc/{gateway.Id}/status");
            Assert.Equal($"Uid:\t{AppUid}\t{AppUid}\t{AppUid}\t{AppUid}", status.Single(line => line.StartsWith("Uid:", StringComparison.Ordinal)));
            Assert.Equal($"Gid:\t{AppUid}\t{AppUid}\t{AppUid}\t{AppUid}", status.Single(line => line.StartsWith("Gid:", StringComparison.Ordinal)));
            Assert.Equal("Groups:", status.Single(line => line.StartsWith("Groups:", StringComparison.Ordinal)).Trim());
            Assert.Equal(Path.Combine(app, "eventsourced"), new FileInfo($"/proc/{gateway.Id}/exe").LinkTarget);

            // queue.pattern and server.heartbeat came from the file too.
            var id = Guid.NewGuid().ToString("N");
            await using var stream = await SseClient.OpenAsync(client, $"/?id={id}", null, CancellationToken.None);
            Assert.True(stream.Status == HttpStatusCode.OK, $"{(int)stream.Status}:\n{gateway.Output}");
            await using var amqp = await broker.ConnectAsync(nameof(PublishedOutput_AsUnprivilegedUser_ReadsEtcConfigAndServesStreams));
            Assert.True(await amqp.QueueExistsAsync($"deployed-{id}"), $"no queue deployed-{id}:\n{gateway.Output}");
            await amqp.PublishAsync($"deployed-{id}", "deployed");
            Assert.Equal(["deployed"], await stream.ReadEventsAsync(1, Timeout));
            Assert.True(await stream.ReadUntilAsync(text => text.Contains(": heartbeat\n\n", StringComparison.Ordinal), Timeout));

            gateway.Signal(Signals.Terminate);
            Assert.Equal(0, await gateway.WaitForExitAsync(Timeout));
            Assert.Contains("/etc/eventsourced/config.yml", gateway.Output, StringComparison.Ordinal);
        }
        finally
        {
            work.Delete(recursive: true);
        }

        Assert.Equal(etcHadEventsourced, Directory.Exists("/etc/eventsourced"));
    }

    private static void RequireRoot()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException(
                "this test needs root (as CI runs it): it creates a mount namespace with an overlay on /etc and drops to uid "
                + $"{AppUid} with setpriv. It fails rather than skips without root; run `make test` as root.");
        }
    }

    private static async Task<bool> Listens(HttpClient client)
    {
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

    private static async Task RunCheckedAsync(string program, string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(Tools.Require(program, "coreutils"), arguments, Timeout);
        Assert.True(result.ExitCode == 0, result.ToString());
    }

    private static void CopyDirectory(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        File.SetUnixFileMode(destination, (UnixFileMode)0b111_101_101);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            var target = Path.Combine(destination, Path.GetFileName(file));
            File.Copy(file, target);
            // Only what make publish wrote: a config.yml left beside a developer's executable would hide /etc's.
            Assert.NotEqual("config.yml", Path.GetFileName(file));
        }

        foreach (var directory in Directory.EnumerateDirectories(source))
        {
            CopyDirectory(directory, Path.Combine(destination, Path.GetFileName(directory)));
        }
    }
}
