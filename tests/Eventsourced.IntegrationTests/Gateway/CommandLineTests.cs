namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>The executable's flags and exit codes, run as a process.</summary>
public sealed class CommandLineTests : IDisposable
{
    private static readonly Dictionary<string, string> NoEnvironment = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("eventsourced-cli").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Version_PrintsTheVersionFileAndExitsZero()
    {
        var (exit, stdout, _) = await GatewayProcess.RunAsync(NoEnvironment, "-v");
        var version = File.ReadAllText(Path.Combine(RepositoryRoot(), "VERSION")).Trim();

        Assert.Equal(0, exit);
        Assert.Equal($"eventsourced {version}", stdout.Trim());
    }

    [Fact]
    public async Task Help_PrintsUsageAndExitsZero()
    {
        var (exit, stdout, _) = await GatewayProcess.RunAsync(NoEnvironment, "-h");

        Assert.Equal(0, exit);
        Assert.Contains("--config", stdout, StringComparison.Ordinal);
        Assert.Contains("-c", stdout, StringComparison.Ordinal);
        foreach (var code in new[] { "0", "64", "69", "78" })
        {
            Assert.Matches($@"(?m)^\s+{code}\s+\S", stdout);
        }
    }

    [Fact]
    public async Task MetricsAddressInUse_ExitsUnavailableNamingThatAddress()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var takenAddress = $"127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        var serverAddress = $"127.0.0.1:{FreePort.Next()}";

        var (exit, _, stderr) = await GatewayProcess.RunAsync(
            new Dictionary<string, string>
            {
                ["EVENTSOURCED_SERVER__ADDRESS"] = serverAddress,
                ["EVENTSOURCED_METRICS__ADDRESS"] = takenAddress,
                ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
            });

        Assert.Equal(69, exit);
        Assert.Contains(takenAddress, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(serverAddress, stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server.address")]
    [InlineData("metrics.address")]
    public async Task AddressInUse_ExitsUnavailableWithOneLineNamingKeyAddressAndReason(string key)
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var takenAddress = $"127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(ListenEnvironment(key, takenAddress));

        Assert.Equal(69, exit);
        AssertOneListenLine(stdout, stderr, $"eventsourced: cannot listen: {key} {takenAddress}: address already in use");
    }

    [Fact]
    public async Task AddressInUse_JsonLogs_ExitsUnavailableWithOneJsonLineNamingKeyAddressAndReason()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var takenAddress = $"127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        var environment = ListenEnvironment("server.address", takenAddress);
        environment["EVENTSOURCED_LOG__FORMAT"] = "json";

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(environment);

        // Before, a plain "eventsourced: cannot listen: ..." on stderr, which a JSON log pipeline cannot parse.
        Assert.Equal(69, exit);
        Assert.Equal(string.Empty, stderr.Trim());
        var line = Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        using var entry = System.Text.Json.JsonDocument.Parse(line);
        Assert.Equal(124, entry.RootElement.GetProperty("EventId").GetInt32());
        Assert.Equal("Critical", entry.RootElement.GetProperty("LogLevel").GetString());
        Assert.StartsWith($"cannot listen: server.address {takenAddress}: address already in use", entry.RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(":{0}", "127.0.0.1:{0}")]
    [InlineData("127.0.0.1:{0}", ":{0}")]
    [InlineData("localhost:{0}", "127.0.0.1:{0}")]
    [InlineData("[::]:{0}", "[::1]:{0}")]
    public async Task MetricsAddressOverlappingServerAddress_ExitsUnavailableWithOneLineNamingBoth(string server, string metrics)
    {
        // Different texts of one port: the configuration's check (the same text) lets them by, and each is free on its own.
        var port = FreePort.Next();
        var serverAddress = string.Format(System.Globalization.CultureInfo.InvariantCulture, server, port);
        var metricsAddress = string.Format(System.Globalization.CultureInfo.InvariantCulture, metrics, port);

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = serverAddress,
            ["EVENTSOURCED_METRICS__ADDRESS"] = metricsAddress,
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
        });

        // Before, both probes passed one after the other, and Kestrel's bind of the second failed: the host's stack trace,
        // then "cannot listen: Failed to bind to address http://127.0.0.1:P: address already in use." without the key.
        Assert.Equal(69, exit);
        AssertOneListenLine(stdout, stderr, $"eventsourced: cannot listen: metrics.address {metricsAddress}: overlaps server.address {serverAddress}");
    }

    [Theory]
    [InlineData("server.address")]
    [InlineData("metrics.address")]
    public async Task PrivilegedPort_AsUnprivilegedUser_ExitsUnavailableWithOneLineNamingKeyAddressAndReason(string key)
    {
        // Ports below net.ipv4.ip_unprivileged_port_start (1024 unless lowered) need root or CAP_NET_BIND_SERVICE.
        var firstUnprivileged = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_unprivileged_port_start").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(firstUnprivileged > 1, $"net.ipv4.ip_unprivileged_port_start is {firstUnprivileged}: every port may be bound without privileges here, so none can be refused");
        var address = "127.0.0.1:1";

        var (exit, stdout, stderr) = await GatewayProcess.RunUnprivilegedAsync(ListenEnvironment(key, address));

        // Before, the SocketException reached the top: "Unhandled exception", SIGABRT, exit 134.
        Assert.True(exit == 69, $"exit {exit}\n{stderr}\n{stdout}");
        AssertOneListenLine(stdout, stderr, $"eventsourced: cannot listen: {key} {address}: permission denied (a port below 1024 needs root");
    }

    private static Dictionary<string, string> ListenEnvironment(string key, string address) => new()
    {
        ["EVENTSOURCED_SERVER__ADDRESS"] = key == "server.address" ? address : $"127.0.0.1:{FreePort.Next()}",
        ["EVENTSOURCED_METRICS__ADDRESS"] = key == "metrics.address" ? address : string.Empty,
        ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
    };

    /// <summary>The reason on one line of stderr, and no stack trace anywhere (the host used to log one before it).</summary>
    private static void AssertOneListenLine(string stdout, string stderr, string expectedStart)
    {
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith(expectedStart, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stdout + stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DumpConfig_PrintsEffectiveYamlWithPasswordsMasked()
    {
        var file = Write("config.yml", """
            broker:
              node:
                - amqp://alice:s3cr%40t@rabbit-1:5672/
                - amqp://bob:hunter2@rabbit-2:5672/
            queue:
              expire: 60
            """);

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(
            new Dictionary<string, string> { ["EVENTSOURCED_SERVER__ADDRESS"] = "127.0.0.1:9999" }, "--config", file, "-c");

        Assert.True(exit == 0, stderr);
        Assert.DoesNotContain("s3cr", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", stdout, StringComparison.Ordinal);
        Assert.Contains("amqp://alice:***@rabbit-1:5672/", stdout, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:9999", stdout, StringComparison.Ordinal);
        Assert.Contains("expires: 60", stdout, StringComparison.Ordinal);
        Assert.Contains("X-Accel-Buffering", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokenConfig_ExitsWithConfigErrorNamingFileLineAndKey()
    {
        var file = Write("bad.yml", """
            server:
              address: 0.0.0.0:2069
            queue:
              expires: -5
            """);

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(NoEnvironment, "--config", file);

        Assert.Equal(78, exit);
        Assert.Contains($"{file}:4", stderr, StringComparison.Ordinal);
        Assert.Contains("queue.expires", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout.Trim());
    }

    [Fact]
    public async Task BrokenConfig_JsonLogs_ExitsWithConfigErrorAsOneJsonLinePerProblem()
    {
        var file = Write("bad-json.yml", """
            log:
              format: json
            queue:
              expires: -5
            """);

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(
            new Dictionary<string, string> { ["EVENTSOURCED_QUEUE__PREFETCH"] = "0" }, "--config", file);

        // Before, "eventsourced: invalid configuration" and the problems as plain lines on stderr, which a JSON log pipeline cannot parse.
        Assert.Equal(78, exit);
        Assert.Equal(string.Empty, stderr.Trim());
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, lines.Length);
        using var inFile = System.Text.Json.JsonDocument.Parse(lines[0]);
        Assert.Equal(151, inFile.RootElement.GetProperty("EventId").GetInt32());
        Assert.Equal("Critical", inFile.RootElement.GetProperty("LogLevel").GetString());
        Assert.Equal($"invalid configuration: {file}:4: queue.expires: must be from 0 to 2147483, got -5", inFile.RootElement.GetProperty("Message").GetString());
        var state = inFile.RootElement.GetProperty("State");
        Assert.Equal(file, state.GetProperty("File").GetString());
        Assert.Equal(4, state.GetProperty("Line").GetInt32());
        Assert.Equal("queue.expires", state.GetProperty("Key").GetString());
        Assert.Equal("must be from 0 to 2147483, got -5", state.GetProperty("Problem").GetString());
        using var inEnvironment = System.Text.Json.JsonDocument.Parse(lines[1]);
        var variable = inEnvironment.RootElement.GetProperty("State");
        Assert.Equal("EVENTSOURCED_QUEUE__PREFETCH", variable.GetProperty("Variable").GetString());
        Assert.Equal("queue.prefetch", variable.GetProperty("Key").GetString());
    }

    [Fact]
    public async Task BrokenLogFormat_ExitsWithConfigErrorAsPlainText()
    {
        var file = Write("bad-format.yml", """
            log:
              format: xml
            """);

        var (exit, stdout, stderr) = await GatewayProcess.RunAsync(NoEnvironment, "--config", file);

        Assert.Equal(78, exit);
        Assert.Empty(stdout.Trim());
        Assert.Contains($"{file}:2: log.format", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingConfigFile_ExitsWithConfigError()
    {
        var (exit, _, stderr) = await GatewayProcess.RunAsync(NoEnvironment, "--config", Path.Combine(_dir, "nope.yml"));

        Assert.Equal(78, exit);
        Assert.Contains("nope.yml", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFlag_ExitsWithUsageError()
    {
        var (exit, _, stderr) = await GatewayProcess.RunAsync(NoEnvironment, "--frobnicate");

        Assert.Equal(64, exit);
        Assert.Contains("--frobnicate", stderr, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir!.FullName, "eventsourced.sln")))
        {
            dir = dir.Parent;
        }

        return dir.FullName;
    }
}
