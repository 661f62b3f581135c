using System.Net;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// <c>examples/prometheus/alerts.yml</c>: Prometheus loads it (<c>promtool check rules</c>), its unit tests pass
/// (<c>promtool test rules alerts-test.yml</c>, series shaped like the gateway's), every alert has a unit test in which it
/// fires, and every series a rule queries is one a real gateway exports.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class AlertRulesTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Series a rule may query that Prometheus makes itself, not the gateway.</summary>
    private static readonly HashSet<string> PrometheusSeries = new(StringComparer.Ordinal) { "up" };

    [Fact]
    public async Task AlertRules_PassPromtoolCheckRules()
    {
        var result = await ProcessRunner.RunAsync(PrometheusTools.Promtool, ["check", "rules", RulesPath("alerts.yml")], TimeSpan.FromSeconds(30));

        Assert.True(result.Succeeded, $"promtool check rules:\n{result.StandardOutput}\n{result.StandardError}");
        Assert.Contains($"SUCCESS: {AlertExpressions().Count} rules found", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AlertRules_UnitTests_Pass()
    {
        var result = await ProcessRunner.RunAsync(PrometheusTools.Promtool, ["test", "rules", RulesPath("alerts-test.yml")], TimeSpan.FromSeconds(60));

        Assert.True(result.Succeeded, $"promtool test rules:\n{result.StandardOutput}\n{result.StandardError}");
    }

    [Fact]
    public void AlertRules_EveryAlert_HasAFiringUnitTest()
    {
        var alerts = AlertExpressions().Select(rule => rule.Alert).ToArray();
        Assert.NotEmpty(alerts);

        var firing = FiringUnitTests();
        var untested = alerts.Where(alert => !firing.Contains(alert)).ToArray();
        Assert.True(
            untested.Length == 0,
            "alerts.yml has alerts no alert_rule_test of alerts-test.yml expects to fire (an entry with their alertname and a non-empty exp_alerts):\n"
            + string.Join("\n", untested));
    }

    [Fact]
    public async Task AlertRules_EveryQueriedSeries_IsExportedByARealGateway()
    {
        var names = AlertExpressions()
            .SelectMany(rule => DashboardTests.MetricNames(rule.Expression).Select(name => (Name: name, rule.Alert)))
            .Where(n => !PrometheusSeries.Contains(n.Name))
            .ToArray();
        Assert.NotEmpty(names);

        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(AlertRulesTests));
        var queue = broker.UniqueQueueName(nameof(AlertRules_EveryQueriedSeries_IsExportedByARealGateway));
        await using (var client = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, client.Status);
            await amqp.PublishAsync(queue, "timed", DateTimeOffset.UtcNow); // the delivery latency histogram's first observation
            await client.ReadEventsAsync(1, Patience);
        }

        Exposition scrape = null!;
        await Wait.UntilAsync(
            async () => (scrape = await Exposition.ScrapeAsync(gateway.Client)).Series("eventsourced_delivery_latency_seconds_bucket").Any(),
            Patience, "the delivery latency observed");

        // The TLS series exist only with server.tls: a gateway serving HTTPS is scraped too.
        var tls = await ScrapeTlsGatewayAsync();
        var missing = names.Where(n => !DashboardTests.IsExported(scrape, n.Name) && !DashboardTests.IsExported(tls, n.Name))
            .Select(n => $"{n.Name} (in {n.Alert})").Distinct().ToArray();
        Assert.True(missing.Length == 0, "alerts.yml queries series the gateway does not export:\n" + string.Join("\n", missing));
    }

    /// <summary>The <c>/metrics</c> of a gateway with <c>server.tls</c> (a throwaway certificate), scraped over HTTPS.</summary>
    private async Task<Exposition> ScrapeTlsGatewayAsync()
    {
        var directory = Directory.CreateTempSubdirectory("es-alerts-tls-");
        try
        {
            using var certificate = Eventsourced.Testing.Gateways.TestCertificate.Create();
            var (certificatePath, keyPath) = certificate.WriteTo(directory.FullName);
            await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Tls = new(StringComparer.OrdinalIgnoreCase)
            {
                ["certificate"] = certificatePath,
                ["key"] = keyPath,
            });
            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.Certificate.GetCertHashString() },
            })
            {
                BaseAddress = new Uri($"https://127.0.0.1:{gateway.Port}"),
            };
            return await Exposition.ScrapeAsync(client);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Every alerting rule of alerts.yml: its name and expression.</summary>
    private static IReadOnlyList<(string Alert, string Expression)> AlertExpressions()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(RulesPath("alerts.yml")))
        {
            yaml.Load(reader);
        }

        var rules = new List<(string, string)>();
        foreach (YamlMappingNode group in (YamlSequenceNode)((YamlMappingNode)yaml.Documents[0].RootNode)["groups"])
        {
            foreach (YamlMappingNode rule in (YamlSequenceNode)group["rules"])
            {
                rules.Add((((YamlScalarNode)rule["alert"]).Value!, ((YamlScalarNode)rule["expr"]).Value!));
            }
        }

        return rules;
    }

    /// <summary>The alertnames of alerts-test.yml's <c>alert_rule_test</c> entries whose <c>exp_alerts</c> is not empty.</summary>
    private static HashSet<string> FiringUnitTests()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(RulesPath("alerts-test.yml")))
        {
            yaml.Load(reader);
        }

        var firing = new HashSet<string>(StringComparer.Ordinal);
        foreach (YamlMappingNode test in (YamlSequenceNode)((YamlMappingNode)yaml.Documents[0].RootNode)["tests"])
        {
            if (!test.Children.TryGetValue(new YamlScalarNode("alert_rule_test"), out var cases))
            {
                continue;
            }

            foreach (YamlMappingNode @case in (YamlSequenceNode)cases)
            {
                if (@case.Children.TryGetValue(new YamlScalarNode("exp_alerts"), out var expected)
                    && expected is YamlSequenceNode { Children.Count: > 0 })
                {
                    firing.Add(((YamlScalarNode)@case["alertname"]).Value!);
                }
            }
        }

        return firing;
    }

    private static string RulesPath(string file)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "eventsourced.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("repository root not found"), "examples", "prometheus", file);
    }
}
