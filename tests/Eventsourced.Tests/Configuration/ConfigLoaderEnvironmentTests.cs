using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Tests.Configuration;

public sealed class ConfigLoaderEnvironmentTests
{
    private const string ServerKeys = "known: address, path, heartbeat, shutdown_timeout, drain_delay, write_timeout, hosts, tls";

    [Fact]
    public void Load_ScalarVariables_SetTheirKeysInAnyCase()
    {
        var options = ConfigTesting.LoadEnvironment(
            ("EVENTSOURCED_SERVER__ADDRESS", "127.0.0.1:8080"),
            ("eventsourced_server__shutdown_timeout", "3"),
            ("Eventsourced_Queue__Pattern", "q-${cookie:sid}"));

        Assert.Equal("127.0.0.1:8080", options.Server.Address);
        Assert.Equal(3, options.Server.ShutdownTimeoutSeconds);
        Assert.Equal("q-${cookie:sid}", options.Queue.Pattern);
    }

    [Fact]
    public void Load_VariablesWithoutDoubleUnderscore_AreIgnored()
    {
        var options = ConfigTesting.LoadEnvironment(
            ("EVENTSOURCED_TEST_AMQP", "amqp://not-config/"),
            ("EVENTSOURCED_", "x"),
            ("OTHER_SERVER__ADDRESS", "x"),
            ("SERVER__ADDRESS", "x"));

        Assert.Equal("0.0.0.0:2069", options.Server.Address);
        Assert.Equal(["amqp://guest:guest@localhost:5672/"], options.Broker.Node);
    }

    [Theory]
    [InlineData("EVENTSOURCED_METRICS_TOKEN", "environment EVENTSOURCED_METRICS_TOKEN: not read: two underscores separate a section from its key, as in EVENTSOURCED_METRICS__TOKEN")]
    [InlineData("EVENTSOURCED_AUTH_JWT_SECRET", "environment EVENTSOURCED_AUTH_JWT_SECRET: not read: two underscores separate a section from its key, as in EVENTSOURCED_AUTH__JWT__SECRET")]
    [InlineData("eventsourced_server_shutdown_timeout", "environment eventsourced_server_shutdown_timeout: not read: two underscores separate a section from its key, as in eventsourced_server__shutdown_timeout")]
    [InlineData("EVENTSOURCED_QUEUE_NOPE", "environment EVENTSOURCED_QUEUE_NOPE: not read: two underscores separate a section from its key (EVENTSOURCED_QUEUE__KEY)")]
    [InlineData("EVENTSOURCED_SERVER", "environment EVENTSOURCED_SERVER: not read: two underscores separate a section from its key (EVENTSOURCED_SERVER__KEY)")]
    public void Load_SectionVariableWithoutDoubleUnderscore_IsReported(string name, string expected) =>
        Assert.Equal([expected], ConfigTesting.EnvironmentProblems((name, "value")));

    [Theory]
    [InlineData("EVENTSOURCED__QUEUE__EXPIRES", "environment EVENTSOURCED__QUEUE__EXPIRES: not read: the prefix EVENTSOURCED_ takes one underscore, as in EVENTSOURCED_QUEUE__EXPIRES")]
    [InlineData("EVENTSOURCED__BROKER__NODE__0", "environment EVENTSOURCED__BROKER__NODE__0: not read: the prefix EVENTSOURCED_ takes one underscore, as in EVENTSOURCED_BROKER__NODE__0")]
    [InlineData("eventsourced___metrics__token", "environment eventsourced___metrics__token: not read: the prefix eventsourced_ takes one underscore, as in eventsourced_metrics__token")]
    public void Load_SectionVariableWithDoubleUnderscoreAfterThePrefix_IsReported(string name, string expected) =>
        Assert.Equal([expected], ConfigTesting.EnvironmentProblems((name, "value")));

    [Fact]
    public void Load_VariableWithDoubleUnderscoreAfterThePrefixNamingNoSection_IsIgnored()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED__TEST_AMQP", "amqp://not-config/"));

        Assert.Equal(["amqp://guest:guest@localhost:5672/"], options.Broker.Node);
    }

    [Fact]
    public void Load_IndexedNodes_ReplaceTheListInNumericIndexOrder()
    {
        var options = ConfigTesting.LoadEnvironment(
            ("EVENTSOURCED_BROKER__NODE__10", "amqp://c/"),
            ("EVENTSOURCED_BROKER__NODE__2", "amqp://b/"),
            ("EVENTSOURCED_BROKER__NODE__0", "amqp://a/"));

        Assert.Equal(["amqp://a/", "amqp://b/", "amqp://c/"], options.Broker.Node);
    }

    /// <summary>Meant to change the file's second node, <c>__1</c> alone replaced the file's list with itself, without a word.</summary>
    [Fact]
    public void Load_IndexedListWithoutEntryZero_IsAnErrorThatSaysTheListIsReplaced()
    {
        var problems = ConfigTesting.Problems(
            "broker:\n  node: [amqp://a/, amqp://b/]\n", ConfigTesting.Env(("EVENTSOURCED_BROKER__NODE__1", "amqp://c/"), ("EVENTSOURCED_BROKER__NODE__3", "amqp://d/")));

        Assert.Equal(["environment EVENTSOURCED_BROKER__NODE__1: broker.node[1]: has no entry 0: a list given by index replaces the whole list of earlier sources, so give it from entry 0"], problems);
    }

    [Fact]
    public void Load_CommaSeparatedNodes_ReplaceTheList()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_BROKER__NODE", "amqp://a/, amqps://b/"));

        Assert.Equal(["amqp://a/", "amqps://b/"], options.Broker.Node);
    }

    [Fact]
    public void Load_CommaSeparatedNodes_KeepACommaInAPassword()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_BROKER__NODE", "amqp://user:pa55,wordSECRET@rabbit:5672/,AMQPS://b/, amqp://c:x,y@d/"));

        Assert.Equal(["amqp://user:pa55,wordSECRET@rabbit:5672/", "AMQPS://b/", "amqp://c:x,y@d/"], options.Broker.Node);
        Assert.Equal("pa55,wordSECRET", Eventsourced.Broker.BrokerUrl.Parse(options.Broker.Node[0]).Password);
    }

    [Fact]
    public void Load_CommaSeparatedNodes_NoPieceOfAPasswordInAProblem()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_BROKER__NODE", "amqp://user:pa55,wordSECRET@rabbit:99999/"));

        Assert.NotEmpty(problems);
        Assert.All(problems, line => Assert.DoesNotContain("pa55", line, StringComparison.Ordinal));
        Assert.All(problems, line => Assert.DoesNotContain("wordSECRET", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_CommaSeparatedSecrets_KeepACommaInASecret()
    {
        // Split at every comma, the first secret was cut in two: refused as 16 bytes and an entry without algorithm.
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_AUTH__JWT__SECRETS", "HS256:0123456789abcdef,0123456789abcdef-tail, hs384:0123456789abcdef0123456789abcdef0123456789abcdef,x"));

        Assert.Equal(["HS256:0123456789abcdef,0123456789abcdef-tail", "hs384:0123456789abcdef0123456789abcdef0123456789abcdef,x"], options.Auth.Jwt.Secrets);
    }

    [Fact]
    public void Load_CommaSeparatedSecretFiles_KeepACommaInAPath()
    {
        var directory = Directory.CreateTempSubdirectory("es-secret,files-");
        try
        {
            var first = Path.Combine(directory.FullName, "jwt,a");
            var second = Path.Combine(directory.FullName, "jwt,b");
            File.WriteAllText(first, new string('a', 32));
            File.WriteAllText(second, new string('b', 64));

            var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_AUTH__JWT__SECRET_FILES", $"HS256:{first},HS512:{second}"));

            Assert.Equal([$"HS256:{first}", $"HS512:{second}"], options.Auth.Jwt.SecretFiles);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Load_HeaderVariable_AddsTheHeaderWithItsCase()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_HEADER__CORS__X-Custom-Header", "v"));

        Assert.Contains("X-Custom-Header", options.Header.Cors.Keys);
        Assert.Equal(5, options.Header.Cors.Count);
    }

    [Fact]
    public void Load_HeaderListInEverySource_IsTheSameCommaSeparatedValue()
    {
        const string Yaml = "header:\n  cors:\n    Access-Control-Allow-Origin: [https://a.example, https://b.example:8443, https://c.example]\n";
        const string Expected = "https://a.example, https://b.example:8443, https://c.example";

        var fromFile = ConfigTesting.Load(Yaml).Header.Cors["Access-Control-Allow-Origin"];
        var fromEnvironment = ConfigTesting.LoadEnvironment(
            ("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin__10", "https://c.example"),
            ("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin__0", "https://a.example"),
            ("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin__2", "https://b.example:8443")).Header.Cors["Access-Control-Allow-Origin"];
        var fromApplication = ConfigLoader.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["header:cors:Access-Control-Allow-Origin:0"] = "https://a.example",
                ["header:cors:Access-Control-Allow-Origin:1"] = "https://b.example:8443",
                ["header:cors:Access-Control-Allow-Origin:2"] = "https://c.example",
            })
            .Build()).ThrowIfInvalid().Options.Header.Cors["Access-Control-Allow-Origin"];

        Assert.Equal([Expected, Expected, Expected], [fromFile, fromEnvironment, fromApplication]);
    }

    [Fact]
    public void Load_HeaderListVariableOverFile_ReplacesTheFilesValue()
    {
        var options = ConfigTesting.Load(
            "header:\n  sse:\n    X-Served-By: [a, b]\n",
            ConfigTesting.Env(("EVENTSOURCED_HEADER__SSE__X-Served-By__0", "c"), ("EVENTSOURCED_HEADER__SSE__X-Served-By__1", "d")));

        Assert.Equal("c, d", options.Header.Sse["X-Served-By"]);
    }

    [Theory]
    [InlineData("EVENTSOURCED_HEADER__CORS__X-A__first", "environment EVENTSOURCED_HEADER__CORS__X-A__first: header.cors.X-A: list index must be a number, got 'first'")]
    [InlineData("EVENTSOURCED_HEADER__CORS__X-A__0__b", "environment EVENTSOURCED_HEADER__CORS__X-A__0__b: header.cors.X-A: a header's list holds single values, got a mapping")]
    public void Load_HeaderListVariableNotAList_ReportsTheVariable(string name, string expected) =>
        Assert.Equal([expected], ConfigTesting.EnvironmentProblems((name, "v")));

    [Theory]
    [InlineData("EVENTSOURCED_SERVER__NOPE", "1", $"environment EVENTSOURCED_SERVER__NOPE: server.NOPE: unknown key ({ServerKeys})")]
    [InlineData("EVENTSOURCED_TRACING__PATH", "/m", "environment EVENTSOURCED_TRACING__PATH: TRACING: unknown section (known: server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits)")]
    [InlineData("EVENTSOURCED_QUEUE__PREFETCH", "0", "environment EVENTSOURCED_QUEUE__PREFETCH: queue.prefetch: must be from 1 to 65535, got 0")]
    [InlineData("EVENTSOURCED_SERVER__ADDRESS__X", "1", "environment EVENTSOURCED_SERVER__ADDRESS__X: server.address: expected a single value, got a mapping")]
    [InlineData("EVENTSOURCED_SERVER__ADDRESS", "", "environment EVENTSOURCED_SERVER__ADDRESS: server.address: expected host:port, got ''")]
    [InlineData("EVENTSOURCED_BROKER__NODE", "", "environment EVENTSOURCED_BROKER__NODE: broker.node: must list at least one value")]
    [InlineData("EVENTSOURCED_BROKER__NODE", "amqp://a/,", "environment EVENTSOURCED_BROKER__NODE: broker.node[1]: empty value")]
    [InlineData("EVENTSOURCED_BROKER__NODE", "amqp://a/, ,amqp://b/", "environment EVENTSOURCED_BROKER__NODE: broker.node[1]: empty value")]
    [InlineData("EVENTSOURCED_BROKER__NODE__first", "amqp://a/", "environment EVENTSOURCED_BROKER__NODE__first: broker.node: list index must be a number, got 'first'")]
    [InlineData("EVENTSOURCED_BROKER__NODE__0", "http://a/", "environment EVENTSOURCED_BROKER__NODE__0: broker.node[0]: invalid broker URL: unsupported scheme 'http' (use amqp:// or amqps://)")]
    [InlineData("EVENTSOURCED_HEADER__CORS", "x", "environment EVENTSOURCED_HEADER__CORS: header.cors: expected a mapping of header names to values, got a single value")]
    [InlineData("EVENTSOURCED_HEADER__SSE__Bad Name", "x", "environment EVENTSOURCED_HEADER__SSE__Bad Name: header.sse.Bad Name: invalid header name 'Bad Name' (allowed: letters, digits and !#$%&'*+-.^_`|~)")]
    [InlineData("EVENTSOURCED_HEADER__SSE__X-A", "a\nb", "environment EVENTSOURCED_HEADER__SSE__X-A: header.sse.X-A: value must not contain CR, LF or other control characters, got 'a\\nb'")]
    public void Load_BadVariable_ReportsTheVariable(string name, string value, string expected) =>
        Assert.Equal([expected], ConfigTesting.EnvironmentProblems((name, value)));

    [Fact]
    public void Load_MetricsTokenWithAStrayCarriageReturn_IsRefusedWithoutShowingIt()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_METRICS__TOKEN", "k7Qw-metrics-token\r"));

        Assert.Equal(["environment EVENTSOURCED_METRICS__TOKEN: metrics.token: value must not contain CR, LF or other control characters, got a secret of 19 characters (not shown)"], problems);
    }

    [Theory]
    [InlineData("EVENTSOURCED_AUTH__JWT__SECRET", "secret", "auth.jwt.secret: an HS256 secret must be at least 32 bytes, got 6")]
    [InlineData("EVENTSOURCED_AUTH__JWT__SECRET", "bytes", "auth.jwt.secret: an HS256 secret must be at least 32 bytes, got 5")]
    [InlineData("EVENTSOURCED_AUTH__JWT__SECRETS", "HS256:must", "auth.jwt.secrets[0]: an HS256 secret must be at least 32 bytes, got 4")]
    public void Load_AShortSecretThatIsAWordOfTheProblem_DoesNotShowWhichWord(string name, string value, string expected)
    {
        // Before, the secret was replaced wherever it occurred in the message: "an HS256 a secret of 6 characters (not
        // shown) must be at least 32 bytes, got 6", the missing word being the secret.
        var problems = ConfigTesting.EnvironmentProblems((name, value));

        Assert.Equal([$"environment {name}: {expected}"], problems);
    }

    public static TheoryData<string> SecretKeys() =>
        [.. ConfigSchema.Gateway.Keys.Where(k => k.Mask == MaskKind.Secret).Select(k => k.Path)];

    [Theory]
    [MemberData(nameof(SecretKeys))]
    public void Load_BadSecret_NoProblemLineShowsIt(string path)
    {
        // Values that the secrets' rules refuse for different reasons: a control character (in a long one, whose
        // quote would be cut at 60 characters), too short, not ASCII.
        string[] secrets = ["k7Qw9-secret-of-the-test-k7Qw9-secret-of-the-test-k7Qw9-secret-of-the-test\u0001\r", "k7Qw9", "k7Qw9-secret-of-the-test-k7Qw9-\u00e9"];
        var key = ConfigSchema.Gateway.Keys.Single(k => k.Path == path);
        var name = "EVENTSOURCED_" + key.ConfigurationKey.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant()
            + (key.Kind == KeyKind.List ? "__0" : string.Empty);

        var problems = secrets
            .Select(secret => Record.Exception(() => ConfigTesting.LoadEnvironment((name, key.Kind == KeyKind.List ? "HS256:" + secret : secret))))
            .OfType<ConfigException>()
            .SelectMany(ex => ex.Message.Split('\n'))
            .ToArray();

        Assert.NotEmpty(problems);
        Assert.All(problems, line => Assert.DoesNotContain("k7Qw9", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_CommaAndIndexedNodes_ReportsTheConflict()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_BROKER__NODE", "amqp://a/"), ("EVENTSOURCED_BROKER__NODE__0", "amqp://b/"));

        Assert.Equal(["environment EVENTSOURCED_BROKER__NODE__0: broker.node: also set by EVENTSOURCED_BROKER__NODE; give only one of them"], problems);
    }

    [Fact]
    public void Load_SameIndexWrittenTwice_ReportsTheConflict()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_BROKER__NODE__1", "amqp://a/"), ("EVENTSOURCED_BROKER__NODE__01", "amqp://b/"));

        Assert.Equal(["environment EVENTSOURCED_BROKER__NODE__1: broker.node[1]: also set by EVENTSOURCED_BROKER__NODE__01; give only one of them"], problems);
    }

    [Fact]
    public void Load_SameKeyInTwoCases_ReportsTheConflict()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_SERVER__PATH", "/a"), ("eventsourced_server__path", "/b"));

        Assert.Equal(["environment eventsourced_server__path: server.path: also set by EVENTSOURCED_SERVER__PATH; give only one of them"], problems);
    }
}
