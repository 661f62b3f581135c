using System.Net;
using System.Text.Json;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// The executable's log as a log pipeline reads it: JSON lines when asked, plain lines otherwise, and never a
/// broker password, here one in a URL whose port is closed so that every connect attempt fails and is logged.
/// </summary>
public sealed class LoggingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task JsonFormat_EveryLineIsAJsonObjectWithEventId_AndNoLineHasThePassword()
    {
        var password = $"Pw-{Guid.NewGuid():N}";
        var (stdout, stderr, bodies) = await RunAgainstClosedPortAsync(password, "json");

        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        var entries = lines.Select(line =>
        {
            try
            {
                using var document = JsonDocument.Parse(line);
                return document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new Xunit.Sdk.XunitException($"not a JSON line: {line} ({ex.Message})");
            }
        }).ToArray();
        Assert.All(entries, e =>
        {
            Assert.Equal(JsonValueKind.Object, e.ValueKind);
            Assert.Equal(JsonValueKind.Number, e.GetProperty("EventId").ValueKind);
            Assert.False(string.IsNullOrEmpty(e.GetProperty("LogLevel").GetString()));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Message").GetString()));
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Timestamp").GetString()));
        });
        Assert.Contains(entries, e => e.GetProperty("EventId").GetInt32() == 100); // Starting
        Assert.Contains(entries, e => e.GetProperty("EventId").GetInt32() == 400); // ObservabilityEndpoints
        var connectFailed = entries.Where(e => e.GetProperty("EventId").GetInt32() == 201).ToArray(); // BrokerConnectFailed
        Assert.True(connectFailed.Length >= 2, "expected repeated connect failures in the log:\n" + stdout);
        Assert.All(connectFailed, e => Assert.Equal("Warning", e.GetProperty("LogLevel").GetString()));
        AssertNoPassword(password, stdout, stderr, bodies);
    }

    [Fact]
    public async Task TextFormat_PlainLinesWithEventIds_AndNoLineHasThePassword()
    {
        var password = $"Pw-{Guid.NewGuid():N}";
        var (stdout, stderr, bodies) = await RunAgainstClosedPortAsync(password, "text");

        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.False(line.TrimStart().StartsWith('{'), $"a JSON line in text format: {line}"));
        Assert.Contains(lines, line => line.Contains("warn: Eventsourced.Broker.BrokerPool[201] Cannot connect to broker 127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("[400] Observability: metrics at /metrics", StringComparison.Ordinal));
        AssertNoPassword(password, stdout, stderr, bodies);
    }

    /// <summary>The unauthenticated mode (no key in <c>auth.jwt</c>) is logged as a warning when the listener is not loopback only.</summary>
    [Theory]
    [InlineData("0.0.0.0", true)]
    [InlineData("127.0.0.1", false)]
    public async Task Start_WithoutKeys_WarnsWhenListeningBeyondLoopback(string host, bool warns)
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"{host}:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
        });
        using var client = await process.ListeningClientAsync(port, Patience);
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));

        var warning = $"warn: Eventsourced[106] No subscriber tokens required (no key in auth.jwt) while listening on {host}:{port}, beyond loopback";
        Assert.Equal(warns, process.Stdout.Contains(warning, StringComparison.Ordinal));
    }

    /// <summary>
    /// With tokens, topics that may be created under any queue's name (no <c>topics.prefix</c>, a pattern of request
    /// values only) are warned of at start; a prefix, a pattern with text of its own, or no creation says nothing.
    /// </summary>
    [Theory]
    [InlineData("${query:id}", "", true)]
    [InlineData("${claim:sub}", "", true)]
    [InlineData("${query:id}", "topic.", false)]
    [InlineData("${query:id}", null, false)] // the default prefix, topic.
    [InlineData("push.${query:id}", "", false)]
    public async Task Start_WithTokens_WarnsWhenTopicsCanTakeAnyQueuesName(string pattern, string? prefix, bool warns)
    {
        var port = FreePort.Next();
        var variables = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
            ["EVENTSOURCED_AUTH__JWT__SECRET"] = "a-secret-of-at-least-thirty-two-bytes!",
            ["EVENTSOURCED_QUEUE__PATTERN"] = pattern,
        };
        if (prefix is not null)
        {
            variables["EVENTSOURCED_TOPICS__PREFIX"] = prefix;
        }

        await using var process = GatewayProcess.Start(variables);
        using var client = await process.ListeningClientAsync(port, Patience);
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));

        Assert.Equal(warns, process.Stdout.Contains("warn: Eventsourced[113] Topics may be created under any name a client's queue can have", StringComparison.Ordinal));
    }

    /// <summary>
    /// A configuration written for 0.1.0 that names <c>Access-Control-Allow-Headers</c> replaces the default (header maps
    /// merge by name) and keeps <c>Authorization</c> (a token, with keys and <c>auth.from_header</c>) and
    /// <c>Last-Event-ID</c> (with topics) out: a fetch-based reader on another origin fails its preflight and the gateway
    /// never hears of it. The start said nothing; now it warns once, naming the key, where it was set, and what is missing.
    /// </summary>
    [Theory]
    [InlineData("Content-Type, Accept, Cache-Control", true, "Authorization and Last-Event-ID")]
    [InlineData("Content-Type, Accept, Cache-Control", false, "Last-Event-ID")]
    [InlineData("Content-Type, authorization, Last-Event-Id", true, null)]
    [InlineData("*", true, "Authorization")] // a wildcard never covers Authorization
    [InlineData(null, true, null)] // the default lists both
    public async Task Start_WarnsOnce_WhenCorsAllowHeadersKeepsOutWhatReadersSend(string? allowHeaders, bool tokens, string? missing)
    {
        var port = FreePort.Next();
        var dir = Directory.CreateTempSubdirectory("es-cors-").FullName;
        try
        {
            var file = Path.Combine(dir, "config.yml");
            await File.WriteAllTextAsync(file, allowHeaders is null
                ? "header:\n  cors:\n    Access-Control-Allow-Origin: '*'\n"
                : $"header:\n  cors:\n    Access-Control-Allow-Origin: '*'\n    Access-Control-Allow-Headers: '{allowHeaders}'\n");
            var variables = new Dictionary<string, string>
            {
                ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
                ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
            };
            if (tokens)
            {
                variables["EVENTSOURCED_AUTH__JWT__SECRET"] = "a-secret-of-at-least-thirty-two-bytes!";
            }

            await using var process = GatewayProcess.Start(variables, "--config", file);
            using var client = await process.ListeningClientAsync(port, Patience);
            process.Signal("TERM");
            Assert.Equal(0, await process.WaitForExitAsync(Patience));

            var warnings = process.Stdout.Split('\n').Where(l => l.Contains("Eventsourced[150]", StringComparison.Ordinal)).ToArray();
            if (missing is null)
            {
                Assert.Empty(warnings);
            }
            else
            {
                var warning = Assert.Single(warnings);
                Assert.Contains($"warn: Eventsourced[150] header.cors.Access-Control-Allow-Headers ({file}:4) does not list {missing}:", warning, StringComparison.Ordinal);
            }
        }
        finally
        {
            await TempDirectories.DeleteAsync(dir);
        }
    }

    /// <summary>
    /// With tokens, a <c>queue.bind</c> entry that takes a query or cookie value the token does not authorize (the queue's
    /// name does not carry it, or takes its name from a claim) is warned of at start: a subscriber bound its own queue to
    /// another user's routing key (<c>?id=bob</c> with <c>user.${query:id}</c>) and read bob's private messages.
    /// </summary>
    [Theory]
    [InlineData("inbox.${claim:sub}", "users:topic:user.${query:id}", "${query:id}")]
    [InlineData("inbox.${claim:sub}.${query:tab}", "users:topic:user.${query:tab}", "${query:tab}")]
    [InlineData("${query:id}", "users:topic:user.${cookie:uid}", "${cookie:uid}")]
    [InlineData("${query:id}", "users:topic:user.${query:id}", null)] // the queue's name carries it: the queues claim authorizes it
    [InlineData("inbox.${claim:sub}", "users:topic:user.${claim:sub}", null)]
    [InlineData("inbox.${claim:sub}", "broadcast:fanout", null)]
    public async Task Start_WithTokens_WarnsOfABindTakingARequestValueTheTokenDoesNotAuthorize(string pattern, string bind, string? warned)
    {
        var port = FreePort.Next();
        var variables = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
            ["EVENTSOURCED_AUTH__JWT__SECRET"] = "a-secret-of-at-least-thirty-two-bytes!",
            ["EVENTSOURCED_QUEUE__PATTERN"] = pattern,
            ["EVENTSOURCED_QUEUE__BIND__0"] = bind,
        };

        await using var process = GatewayProcess.Start(variables);
        using var client = await process.ListeningClientAsync(port, Patience);
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));

        var expected = $"warn: Eventsourced[123] queue.bind entry {bind} takes {warned} from the request, which the token does not authorize";
        Assert.Equal(warned is not null, process.Stdout.Contains(warned is null ? "warn: Eventsourced[123]" : expected, StringComparison.Ordinal));
    }

    /// <summary>
    /// Runs the executable at debug level against a closed port with <paramref name="password"/> in the broker URL,
    /// asks for a stream (503) and every observability endpoint, stops it with SIGTERM, and returns its output
    /// and the bodies it served.
    /// </summary>
    private static async Task<(string Stdout, string Stderr, string Bodies)> RunAgainstClosedPortAsync(string password, string format)
    {
        var port = FreePort.Next();
        var brokerPort = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://eventsourced:{password}@127.0.0.1:{brokerPort}/",
            ["EVENTSOURCED_BROKER__RECONNECT_MAX"] = "1",
            ["EVENTSOURCED_LOG__FORMAT"] = format,
            ["EVENTSOURCED_LOG__LEVEL"] = "debug",
        });
        using var client = await process.ListeningClientAsync(port, Patience);

        var bodies = new List<string>();
        using (var refused = await client.GetAsync("/?id=q1"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            bodies.Add(await refused.Content.ReadAsStringAsync());
        }

        foreach (var path in new[] { "/metrics", "/debug/vars", "/healthz", "/readyz" })
        {
            using var response = await client.GetAsync(path);
            bodies.Add(string.Join("\n", response.Headers.Select(h => $"{h.Key}: {string.Join(",", h.Value)}")));
            bodies.Add(await response.Content.ReadAsStringAsync());
        }

        await Wait.UntilAsync(
            () => process.Stdout.Split("[201]").Length > 2 || process.Stdout.Split("\"EventId\":201").Length > 2,
            Patience, "two connect failures logged");
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));
        return (process.Stdout, process.Stderr, string.Join("\n", bodies));
    }

    private static void AssertNoPassword(string password, string stdout, string stderr, string bodies)
    {
        Assert.DoesNotContain(password, stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(password, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(password, bodies, StringComparison.Ordinal);
    }
}
