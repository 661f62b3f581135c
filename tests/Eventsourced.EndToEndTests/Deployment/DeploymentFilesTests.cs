using System.Text.Json;
using System.Text.RegularExpressions;
using Eventsourced.Configuration;
using Eventsourced.EndToEndTests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Eventsourced.EndToEndTests.Deployment;

/// <summary>
/// The Dockerfile, docker-compose.yml and the systemd unit, checked as far as this machine allows: no Docker
/// engine runs here and systemd is not PID 1. (The image's payload is tested in <see cref="UnprivilegedRunTests"/>.)
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class DeploymentFilesTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SystemdUnit_WithThePublishedExecutable_VerifiesWithoutAWarning()
    {
        var analyze = Tools.Require("systemd-analyze", "systemd");
        var unit = await File.ReadAllTextAsync(RepoPaths.Examples("systemd", "eventsourced.service"));
        var work = Directory.CreateTempSubdirectory("eventsourced-systemd-");
        try
        {
            // The unit expects the published output in /opt/eventsourced; here it is in out/eventsourced.
            var path = Path.Combine(work.FullName, "eventsourced.service");
            await File.WriteAllTextAsync(path, unit.ReplaceOnce(
                "ExecStart=/opt/eventsourced/eventsourced", $"ExecStart={RepoPaths.PublishedGateway}/eventsourced"));

            var result = await ProcessRunner.RunAsync(analyze, ["verify", path], Timeout);

            // Unknown keys and unparsable values are only warnings to systemd: no output is the bar.
            Assert.True(result.ExitCode == 0 && result.StandardError.Trim().Length == 0 && result.StandardOutput.Trim().Length == 0, result.ToString());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task SystemdUnit_WithItsTlsGroupLineUncommented_VerifiesWithoutAWarning()
    {
        // DynamicUser's user owns no file: a server.tls key readable by root alone is "Access ... denied" (exit 78).
        // The unit carries the line that lets a group's key be read; uncommented, it must still verify.
        var analyze = Tools.Require("systemd-analyze", "systemd");
        var unit = await File.ReadAllTextAsync(RepoPaths.Examples("systemd", "eventsourced.service"));
        Assert.Contains("\n#SupplementaryGroups=eventsourced-tls\n", unit, StringComparison.Ordinal);
        var work = Directory.CreateTempSubdirectory("eventsourced-systemd-");
        try
        {
            var path = Path.Combine(work.FullName, "eventsourced.service");
            await File.WriteAllTextAsync(path, unit
                .ReplaceOnce("ExecStart=/opt/eventsourced/eventsourced", $"ExecStart={RepoPaths.PublishedGateway}/eventsourced")
                .ReplaceOnce("\n#SupplementaryGroups=", "\nSupplementaryGroups="));

            var result = await ProcessRunner.RunAsync(analyze, ["verify", path], Timeout);

            Assert.True(result.ExitCode == 0 && result.StandardError.Trim().Length == 0 && result.StandardOutput.Trim().Length == 0, result.ToString());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public void SystemdUnit_Restarts_NeverOnAConfigErrorAndNotForEverOnAListenFailure()
    {
        var unit = UnitSections(File.ReadAllLines(RepoPaths.Examples("systemd", "eventsourced.service")));
        var service = unit["Service"];

        // 64 (command line) and 78 (configuration) do not heal: never restarted. 69 (cannot listen) may: restarted.
        Assert.Equal("on-failure", service["Restart"]);
        var prevented = service["RestartPreventExitStatus"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("64", prevented);
        Assert.Contains("78", prevented);
        Assert.DoesNotContain("69", prevented);

        // But not for ever: a start limit that a loop of quick failures, one per RestartSec, reaches. The start limit
        // belongs to [Unit] (systemd ignores it in [Service]); its default, 5 starts in 10 s, is never reached by a
        // 2 s loop, so every 69 (a port another program keeps, a port below 1024) was retried for ever.
        var restartSeconds = double.Parse(service["RestartSec"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(unit["Unit"].TryGetValue("StartLimitIntervalSec", out var intervalText) & unit["Unit"].TryGetValue("StartLimitBurst", out var burstText),
            "no StartLimitIntervalSec and StartLimitBurst in [Unit]: systemd's default start limit is never reached by a RestartSec=2 loop");
        var interval = double.Parse(intervalText!, System.Globalization.CultureInfo.InvariantCulture);
        var burst = int.Parse(burstText!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(burst * restartSeconds < interval, $"{burst} starts {restartSeconds} s apart do not fit in StartLimitIntervalSec={interval}: a failing start is retried for ever");
        Assert.True(burst * restartSeconds >= 10, "the start limit gives an address held by an instance on its way out less than 10 s to be freed");
    }

    [Fact]
    public async Task DockerfileHealthCheck_AgainstTheGateway_PassesWhileItServesAndFailsOnceItStopped()
    {
        var bash = Tools.Require("bash", "bash");
        var command = JsonSerializer.Deserialize<string[]>(Instruction("HEALTHCHECK").Split(" CMD ", 2)[1])!;
        Assert.Equal(["bash", "-c"], command[..2]);

        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var serving = await HealthCheckAsync(bash, command[2], gateway.Port);
        await gateway.DisposeAsync();
        var stopped = await HealthCheckAsync(bash, command[2], gateway.Port);

        Assert.True(serving.ExitCode == 0, serving.ToString());
        Assert.True(stopped.ExitCode != 0, stopped.ToString());
    }

    /// <summary>
    /// The check speaks plain HTTP: against server.address with server.tls it fails while the gateway serves, and the
    /// Dockerfile's way out (metrics.address, its port in HEALTHCHECK_PORT) passes.
    /// </summary>
    [Fact]
    public async Task DockerfileHealthCheck_WithServerTls_FailsOnServerAddress_PassesOnMetricsAddressGivenInHealthcheckPort()
    {
        var bash = Tools.Require("bash", "bash");
        var command = JsonSerializer.Deserialize<string[]>(Instruction("HEALTHCHECK").Split(" CMD ", 2)[1])!;
        var directory = Directory.CreateTempSubdirectory("eventsourced-healthcheck-");
        try
        {
            using var certificate = TestCertificate.Create();
            var (certificatePath, keyPath) = certificate.WriteTo(directory.FullName);
            var metricsPort = FreePort.Next();
            await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
            {
                o.Server.Tls = new(StringComparer.OrdinalIgnoreCase) { ["certificate"] = certificatePath, ["key"] = keyPath };
                o.Metrics.Address = $"127.0.0.1:{metricsPort}";
            });

            var overTls = await HealthCheckAsync(bash, command[2], gateway.Port);
            var onMetricsAddress = await HealthCheckAsync(bash, command[2], metricsPort);

            Assert.True(overTls.ExitCode != 0, overTls.ToString());
            Assert.True(onMetricsAddress.ExitCode == 0, onMetricsAddress.ToString());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The Dockerfile's health check command, run as Docker runs it in a container with HEALTHCHECK_PORT set.</summary>
    private static Task<ProcessResult> HealthCheckAsync(string bash, string script, int port) =>
        ProcessRunner.RunAsync(bash, ["-c", script], Timeout, new Dictionary<string, string?> { ["HEALTHCHECK_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    [Fact]
    public void Dockerfile_RuntimeStage_MatchesWhatItDeploys()
    {
        var defaults = new GatewayOptions();
        // What `make publish` writes is what the build stage publishes, and the entry point is in it.
        var makefile = File.ReadAllText(Path.Combine(RepoPaths.Root, "Makefile"));
        var app = MakeVariable().Match(makefile).Groups[1].Value;
        Assert.Contains($"dotnet publish {app} -c Release -o /app", Instruction("RUN", last: true), StringComparison.Ordinal);
        var entryPoint = JsonSerializer.Deserialize<string[]>(Instruction("ENTRYPOINT"))!;
        Assert.StartsWith("/app/", entryPoint[0], StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(RepoPaths.PublishedGateway, entryPoint[0]["/app/".Length..])), $"{entryPoint[0]} is not in out/eventsourced");
        // Configuration where the gateway reads it, the port it listens on by default, a user that is not root.
        Assert.EndsWith($" {ConfigSources.SystemFile}", Instruction("COPY", last: true), StringComparison.Ordinal);
        Assert.Equal(defaults.Server.Address.Split(':')[^1], Instruction("EXPOSE"));
        Assert.DoesNotMatch("^(root|0)(:|$)", Instruction("USER"));
        Assert.Contains($"GET {defaults.Health.Live} HTTP/1.0", Instruction("HEALTHCHECK"), StringComparison.Ordinal);
        Assert.Contains($"HEALTHCHECK_PORT={defaults.Server.Address.Split(':')[^1]}", Instructions("ENV"));
        // Every file the build copies from the checkout exists.
        foreach (var copy in Instructions("COPY").Where(copy => !copy.StartsWith("--from", StringComparison.Ordinal)))
        {
            var sources = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1];
            Assert.All(sources, source => Assert.True(Path.Exists(Path.Combine(RepoPaths.Root, source)), $"COPY {source}: not in the checkout"));
        }
    }

    /// <summary>
    /// The compose file's RabbitMQ and the one the tests run are both accounted for in the README: the tested version
    /// as tested, the compose file's among those expected to work.
    /// </summary>
    [Fact]
    public void DockerCompose_RabbitmqImage_IsAVersionTheReadmeAccountsFor()
    {
        var compose = File.ReadAllText(Path.Combine(RepoPaths.Root, "docker-compose.yml"));
        var image = Regex.Match(compose, @"(?m)^\s+image:\s*(rabbitmq:\S+)").Groups[1].Value;
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var start = readme.IndexOf("\n### RabbitMQ versions\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "README has no section \"RabbitMQ versions\"");
        var section = readme[start..readme.IndexOf("\n### ", start + 1, StringComparison.Ordinal)];
        var tested = Eventsourced.Testing.Brokers.RabbitContainer.Image["rabbitmq:".Length..];

        Assert.Contains($"**Tested: RabbitMQ {tested}**", section, StringComparison.Ordinal);
        Assert.Contains($"`{image}`", section, StringComparison.Ordinal);
        Assert.Contains("RabbitMQ versions", compose, StringComparison.Ordinal);
    }

    [Fact]
    public void DockerCompose_Gateway_ReachesTheComposedBrokerWithItsCredentialsAndStopsGracefully()
    {
        var services = ComposeServices();
        var rabbit = (YamlMappingNode)services["rabbitmq"];
        var gateway = (YamlMappingNode)services["gateway"];
        var rabbitEnvironment = (YamlMappingNode)rabbit["environment"];
        var brokerUrl = new Uri(((YamlScalarNode)((YamlMappingNode)gateway["environment"])["EVENTSOURCED_BROKER__NODE__0"]).Value!);

        Assert.Equal(".", ((YamlScalarNode)gateway["build"]).Value);
        Assert.Equal("rabbitmq", brokerUrl.Host);
        Assert.Equal(
            $"{rabbitEnvironment["RABBITMQ_DEFAULT_USER"]}:{rabbitEnvironment["RABBITMQ_DEFAULT_PASS"]}",
            Uri.UnescapeDataString(brokerUrl.UserInfo));
        Assert.Contains(((YamlSequenceNode)gateway["ports"]).Children, port => ((YamlScalarNode)port).Value!.EndsWith(":2069", StringComparison.Ordinal));
        var grace = ((YamlScalarNode)gateway["stop_grace_period"]).Value!;
        Assert.True(int.Parse(grace.TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture) > new GatewayOptions().Server.ShutdownTimeoutSeconds,
            $"stop_grace_period {grace} must exceed server.shutdown_timeout");
    }

    [Fact]
    public async Task DockerCompose_Gateway_StartsOnlyAfterItsConfigurationPassedTheSameImagesCheck()
    {
        // Docker's restart policies cannot spare an exit code: under unless-stopped a configuration error (78) was
        // restarted for ever. A one-shot service runs the gateway's check first, and the gateway waits for it to succeed.
        var services = ComposeServices();
        var gateway = (YamlMappingNode)services["gateway"];
        var check = (YamlMappingNode)services["gateway-config"];
        var dependsOn = (YamlMappingNode)gateway["depends_on"];
        Assert.Equal("service_completed_successfully", ((YamlScalarNode)((YamlMappingNode)dependsOn["gateway-config"])["condition"]).Value);
        Assert.Equal("no", ((YamlScalarNode)check["restart"]).Value);
        Assert.Equal(((YamlScalarNode)gateway["image"]).Value, ((YamlScalarNode)check["image"]).Value);
        Assert.Equal(((YamlScalarNode)gateway["build"]).Value, ((YamlScalarNode)check["build"]).Value);
        Assert.Same(gateway["environment"], check["environment"]);
        var environment = ((YamlMappingNode)check["environment"]).Children
            .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
        var arguments = ((YamlSequenceNode)check["command"]).Children.Select(c => ((YamlScalarNode)c).Value!).ToArray();

        // The check, run by the gateway's executable with the compose file's environment: 0 as composed, 78 once a
        // setting is wrong, with the problem's variable and key.
        var good = await GatewayProcess.RunAsync(environment, arguments);
        var bad = await GatewayProcess.RunAsync(new Dictionary<string, string>(environment) { ["EVENTSOURCED_QUEUE__PREFETCH"] = "0" }, arguments);

        Assert.True(good.ExitCode == 0, good.Stderr);
        Assert.Equal(78, bad.ExitCode);
        Assert.Contains("environment EVENTSOURCED_QUEUE__PREFETCH: queue.prefetch: must be from 1 to 65535, got 0", bad.Stderr, StringComparison.Ordinal);
    }

    private static YamlMappingNode ComposeServices()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepoPaths.Root, "docker-compose.yml")))
        {
            yaml.Load(reader);
        }

        return (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
    }

    /// <summary>A unit file's keys by section (the last value of a key wins; comments and blank lines skipped).</summary>
    private static Dictionary<string, Dictionary<string, string>> UnitSections(string[] lines)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>();
        var current = new Dictionary<string, string>();
        foreach (var line in lines.Select(line => line.Trim()).Where(line => line.Length > 0 && line[0] is not ('#' or ';')))
        {
            if (line[0] == '[')
            {
                sections[line.Trim('[', ']')] = current = [];
            }
            else
            {
                var (key, value) = (line[..line.IndexOf('=', StringComparison.Ordinal)], line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..]);
                current[key.Trim()] = value.Trim();
            }
        }

        return sections;
    }

    /// <summary>The arguments of the first (or last) <paramref name="name"/> instruction of the Dockerfile.</summary>
    private static string Instruction(string name, bool last = false)
    {
        var all = Instructions(name);
        Assert.NotEmpty(all);
        return last ? all[^1] : all[0];
    }

    private static List<string> Instructions(string name)
    {
        // Continuation lines joined, comments dropped.
        var text = string.Join('\n', File.ReadAllLines(Path.Combine(RepoPaths.Root, "Dockerfile")).Where(line => !line.TrimStart().StartsWith('#')));
        return text.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(line => Regex.Replace(line[(name.Length + 1)..], " +", " ").Trim())
            .ToList();
    }

    [GeneratedRegex(@"^APP := (\S+)$", RegexOptions.Multiline)]
    private static partial Regex MakeVariable();
}
