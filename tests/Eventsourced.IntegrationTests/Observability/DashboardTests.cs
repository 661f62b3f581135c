using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// <c>examples/grafana/eventsourced.json</c> against a real gateway: every series a panel or variable queries is one
/// the gateway exports after a little traffic, and every query is PromQL that Prometheus parses.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed partial class DashboardTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    // PromQL words that are not series names when they are not followed by '(' (functions and aggregations are).
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan",
    };

    private static readonly string[] HistogramSuffixes = ["_bucket", "_sum", "_count"];

    [Fact]
    public async Task Dashboard_EveryQueriedSeries_IsExportedByARealGateway()
    {
        var queries = DashboardQueries();
        var names = queries.SelectMany(q => MetricNames(q.Expression).Select(name => (Name: name, q.Where))).ToArray();
        Assert.NotEmpty(names);

        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.HeartbeatSeconds = 1);
        var scrape = await ScrapeAfterTrafficAsync(gateway);

        var missing = names.Where(n => !IsExported(scrape, n.Name)).Select(n => $"{n.Name} (in {n.Where})").Distinct().ToArray();
        Assert.True(missing.Length == 0, "the dashboard queries series the gateway does not export:\n" + string.Join("\n", missing)
            + "\n--- families exported ---\n" + string.Join("\n", scrape.Types.Keys.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public async Task Dashboard_EveryQuery_IsPromQlThatPrometheusParses()
    {
        var queries = DashboardQueries().Where(q => !q.Expression.StartsWith("label_values(", StringComparison.Ordinal)).ToArray();
        var rules = Path.Combine(Path.GetTempPath(), $"eventsourced-dashboard-{Guid.NewGuid():N}.yml");
        // Grafana's variables as Prometheus would see them once Grafana has substituted them.
        var lines = queries.Select((q, i) => $"      - record: dashboard:query{i}\n        expr: {JsonSerializer.Serialize(Substitute(q.Expression))}");
        await File.WriteAllTextAsync(rules, "groups:\n  - name: dashboard\n    rules:\n" + string.Join("\n", lines) + "\n");
        try
        {
            var result = await ProcessRunner.RunAsync(PrometheusTools.Promtool, ["check", "rules", rules], TimeSpan.FromSeconds(30));
            Assert.True(result.Succeeded, $"promtool check rules on the dashboard's queries:\n{result.StandardOutput}\n{result.StandardError}");
        }
        finally
        {
            File.Delete(rules);
        }
    }

    [Fact]
    public void MetricNames_AreTheSeriesOfAnExpression_NotFunctionsKeywordsLabelsOrVariables()
    {
        var expression = """
            histogram_quantile(0.99, sum by (le, instance) (rate(a_seconds_bucket{instance=~"$instance", job!="x{y}"}[$__rate_interval])))
            / on (instance) group_left (node) b_total offset 5m + 1e3 * sum without (outcome) (c{outcome="busy"}) or vector(0) > bool d
            """;

        Assert.Equal(["a_seconds_bucket", "b_total", "c", "d"], MetricNames(expression));
    }

    internal static bool IsExported(Exposition scrape, string name)
    {
        if (scrape.Types.ContainsKey(name) && scrape.Samples.Any(s => s.Name == name || s.Name.StartsWith(name + "_", StringComparison.Ordinal)))
        {
            return true;
        }

        // A histogram's series name its family.
        return HistogramSuffixes.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal)) is { } suffix
            && scrape.Types.TryGetValue(name[..^suffix.Length], out var type) && type == "histogram"
            && scrape.Series(name).Any();
    }

    /// <summary>
    /// Streams that deliver (with publish times), heartbeat and end, a refusal, then one scrape once the ended
    /// stream is counted: what a dashboard of a gateway in use shows.
    /// </summary>
    private async Task<Exposition> ScrapeAfterTrafficAsync(GatewayServer gateway)
    {
        await using var amqp = await broker.ConnectAsync(nameof(DashboardTests));
        var queue = broker.UniqueQueueName("dashboard");
        var ending = broker.UniqueQueueName("dashboard-ends");
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, client.Status);
        await using (var shortLived = await gateway.SubscribeAsync($"/?id={ending}"))
        {
            await amqp.PublishAsync(ending, "bye", DateTimeOffset.UtcNow);
            await shortLived.ReadEventsAsync(1, Patience);
        }

        await amqp.PublishAsync(queue, "one", DateTimeOffset.UtcNow);
        await amqp.PublishAsync(queue, "two", DateTimeOffset.UtcNow);
        await client.ReadEventsAsync(2, Patience);
        await client.ReadUntilAsync(text => text.Contains(": heartbeat", StringComparison.Ordinal), Patience);
        using (var refused = await gateway.Client.GetAsync("/?nothing=1"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        Exposition scrape = null!;
        await Wait.UntilAsync(
            async () => (scrape = await Exposition.ScrapeAsync(gateway.Client)).Find("eventsourced_stream_duration_seconds_count") == 1,
            Patience, "the ended stream counted");
        return scrape;
    }

    /// <summary>Every query of the dashboard: panel targets (also in collapsed rows) and query variables.</summary>
    private static IReadOnlyList<(string Expression, string Where)> DashboardQueries()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(DashboardPath()));
        var root = document.RootElement;
        var queries = new List<(string, string)>();
        foreach (var panel in Panels(root.GetProperty("panels")))
        {
            if (panel.TryGetProperty("targets", out var targets))
            {
                foreach (var target in targets.EnumerateArray())
                {
                    queries.Add((target.GetProperty("expr").GetString()!, $"panel '{panel.GetProperty("title").GetString()}'"));
                }
            }
        }

        foreach (var variable in root.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.GetProperty("type").GetString() == "query")
            {
                var query = variable.GetProperty("query");
                queries.Add((query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!, $"variable ${variable.GetProperty("name").GetString()}"));
            }
        }

        return queries;
    }

    private static IEnumerable<JsonElement> Panels(JsonElement panels)
    {
        foreach (var panel in panels.EnumerateArray())
        {
            yield return panel;
            if (panel.TryGetProperty("panels", out var nested))
            {
                foreach (var inner in Panels(nested))
                {
                    yield return inner;
                }
            }
        }
    }

    /// <summary>
    /// The series names in a PromQL expression (or a Grafana <c>label_values(series, label)</c> query): identifiers
    /// that are not functions or aggregations (followed by <c>(</c>), keywords, label names (inside <c>{}</c> and the
    /// label lists of <c>by</c>, <c>without</c>, <c>on</c>, <c>ignoring</c>, <c>group_left</c>, <c>group_right</c>),
    /// string contents, ranges, numbers or Grafana variables.
    /// </summary>
    internal static IReadOnlyList<string> MetricNames(string expression)
    {
        if (LabelValuesQuery().Match(expression) is { Success: true } labelValues)
        {
            return [labelValues.Groups[1].Value];
        }

        var text = StringLiteral().Replace(expression, "\"\"");
        text = LabelMatchers().Replace(text, " ");
        text = Range().Replace(text, " ");
        text = LabelList().Replace(text, " ");
        text = GrafanaVariable().Replace(text, " ");
        return Identifier().Matches(text)
            .Where(m => !Keywords.Contains(m.Value) && !FollowedByParenthesis(text, m.Index + m.Length))
            .Select(m => m.Value)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
    }

    private static bool FollowedByParenthesis(string text, int index)
    {
        while (index < text.Length && char.IsWhiteSpace(text[index]))
        {
            index++;
        }

        return index < text.Length && text[index] == '(';
    }

    private static string Substitute(string expression) =>
        expression.Replace("$__rate_interval", "1m", StringComparison.Ordinal).Replace("$instance", ".*", StringComparison.Ordinal);

    private static string DashboardPath()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "eventsourced.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("repository root not found"), "examples", "grafana", "eventsourced.json");
    }

    [GeneratedRegex("""^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)""")]
    private static partial Regex LabelValuesQuery();

    [GeneratedRegex("""("([^"\\]|\\.)*"|'([^'\\]|\\.)*'|`[^`]*`)""")]
    private static partial Regex StringLiteral();

    [GeneratedRegex("""\{[^}]*\}""")]
    private static partial Regex LabelMatchers();

    [GeneratedRegex("""\[[^\]]*\]""")]
    private static partial Regex Range();

    [GeneratedRegex("""\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)""")]
    private static partial Regex LabelList();

    [GeneratedRegex("""\$(\{[^}]*\}|\w+)""")]
    private static partial Regex GrafanaVariable();

    [GeneratedRegex("""(?<![\w:.$])[a-zA-Z_:][a-zA-Z0-9_:]*""")]
    private static partial Regex Identifier();
}
