namespace Eventsourced.Tests.Configuration;

/// <summary>Each kind of bad value, with the exact line it is reported as.</summary>
public sealed class ConfigLoaderValueErrorTests
{
    [Theory]
    [InlineData("queue:\n  prefetch: abc\n", "FILE:2: queue.prefetch: expected a whole number, got 'abc'")]
    [InlineData("server:\n  heartbeat: 1.5\n", "FILE:2: server.heartbeat: expected a whole number, got '1.5'")]
    [InlineData("server:\n  heartbeat: -1\n", "FILE:2: server.heartbeat: must be from 0 to 3600, got -1")]
    [InlineData("server:\n  heartbeat: 3601\n", "FILE:2: server.heartbeat: must be from 0 to 3600, got 3601")]
    [InlineData("server:\n  shutdown_timeout: -5\n", "FILE:2: server.shutdown_timeout: must be from 1 to 3600, got -5")]
    [InlineData("server:\n  write_timeout: 0\n", "FILE:2: server.write_timeout: must be from 1 to 3600, got 0")]
    [InlineData("broker:\n  reconnect_max: 0\n", "FILE:2: broker.reconnect_max: must be from 1 to 3600, got 0")]
    [InlineData("queue:\n  expires: 99999999999999999999\n", "FILE:2: queue.expires: must be from 0 to 2147483, got 99999999999999999999")]
    [InlineData("queue:\n  prefetch: 0\n", "FILE:2: queue.prefetch: must be from 1 to 65535, got 0")]
    [InlineData("queue:\n  prefetch: 65536\n", "FILE:2: queue.prefetch: must be from 1 to 65535, got 65536")]
    public void Load_BadNumber_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Theory]
    [InlineData("localhost", "expected host:port, got 'localhost'")]
    [InlineData("0.0.0.0:70000", "port must be a number from 0 to 65535, got '70000'")]
    [InlineData("'0.0.0.0:'", "port must be a number from 0 to 65535, got ''")]
    [InlineData("'::1:80'", "write IPv6 addresses in brackets ([::1]:2069), got '::1:80'")]
    [InlineData("'[::1]'", "expected host:port, got '[::1]'")]
    [InlineData("'[zz]:80'", "invalid IPv6 address '[zz]'")]
    [InlineData("300.1.1.1:80", "invalid IPv4 address '300.1.1.1'")]
    [InlineData("1.2.3:80", "invalid IPv4 address '1.2.3'")]
    [InlineData("-bad-.example:80", "invalid host name '-bad-.example'")]
    [InlineData("bad!name:80", "invalid host name 'bad!name'")]
    public void Load_BadServerAddress_ReportsTheProblem(string address, string expected) =>
        Assert.Equal([$"FILE:2: server.address: {expected}"], ConfigTesting.Problems($"server:\n  address: {address}\n"));

    [Theory]
    [InlineData(":2069")]
    [InlineData("'*:2069'")]
    [InlineData("'[::1]:80'")]
    [InlineData("127.0.0.1:0")]
    [InlineData("my-host.example:65535")]
    [InlineData("compose_service:2069")]
    public void Load_GoodServerAddress_IsTaken(string address) =>
        Assert.Equal(address.Trim('\''), ConfigTesting.Load($"server:\n  address: {address}\n").Server.Address);

    [Theory]
    [InlineData("127.0.0.1:2069")]
    [InlineData("LOCALHOST:2069")]
    public void Load_MetricsAddressTheSameAsServerAddress_ReportsIt(string metrics) =>
        Assert.Equal(
            [$"FILE:4: metrics.address: '{metrics}' is also server.address; give the observability endpoints a listener of their own, or leave it empty"],
            ConfigTesting.Problems($"server:\n  address: {metrics.ToLowerInvariant()}\nmetrics:\n  address: {metrics}\n"));

    [Fact]
    public void Load_ServerAndMetricsAddressBothOnPortZero_AreTwoListeners()
    {
        // Each bind of port 0 gets a port of its own (tests and side-by-side instances use it).
        var options = ConfigTesting.Load("server:\n  address: 127.0.0.1:0\nmetrics:\n  address: 127.0.0.1:0\n");

        Assert.Equal("127.0.0.1:0", options.Metrics.Address);
    }

    [Theory]
    [InlineData("events", "must start with '/', got 'events'")]
    [InlineData("'/a b'", "must not contain spaces, control characters, '?' or '#', got '/a b'")]
    [InlineData("/a?b", "must not contain spaces, control characters, '?' or '#', got '/a?b'")]
    public void Load_BadServerPath_ReportsTheProblem(string path, string expected) =>
        Assert.Equal([$"FILE:2: server.path: {expected}"], ConfigTesting.Problems($"server:\n  path: {path}\n"));

    [Theory]
    [InlineData("[]", "FILE:2: broker.node: must list at least one value")]
    [InlineData("\n    - amqp://h/\n    - http://h/", "FILE:4: broker.node[1]: invalid broker URL: unsupported scheme 'http' (use amqp:// or amqps://)")]
    [InlineData("\n    - amqp:///vhost", "FILE:3: broker.node[0]: invalid broker URL: missing host")]
    [InlineData("\n    - not a url", "FILE:3: broker.node[0]: invalid broker URL: not an absolute URL (expected amqp://user:password@host:port/vhost)")]
    [InlineData("\n    - amqp://h/shop/eu", "FILE:3: broker.node[0]: invalid broker URL: the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/shop%2Feu)")]
    [InlineData("\n    - ''", "FILE:3: broker.node[0]: empty value")]
    [InlineData("\n    - amqp://u:p@h:99999/", "FILE:3: broker.node[0]: invalid broker URL: port must be from 1 to 65535, got 99999")]
    [InlineData("\n    - amqp://u:p@h/v%2", "FILE:3: broker.node[0]: invalid broker URL: the virtual host has a '%' not followed by two hex digits: write a '%' in its name as %25 (amqp://host/v%252)")]
    public void Load_BadNodeList_ReportsTheEntry(string nodes, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems($"broker:\n  node: {nodes}\n"));

    [Fact]
    public void Load_BadBrokerUrl_DoesNotPrintThePassword()
    {
        var problems = ConfigTesting.Problems("broker:\n  node:\n    - http://user:Pa55word@h/\n");

        Assert.Single(problems);
        Assert.DoesNotContain("Pa55word", problems[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    Bad Name: x", "FILE:3: header.cors.Bad Name: invalid header name 'Bad Name' (allowed: letters, digits and !#$%&'*+-.^_`|~)")]
    [InlineData("    'X(y)': x", "FILE:3: header.cors.X(y): invalid header name 'X(y)' (allowed: letters, digits and !#$%&'*+-.^_`|~)")]
    [InlineData("    X-A: \"a\\r\\nSet-Cookie: b\"", "FILE:3: header.cors.X-A: value must not contain CR, LF or other control characters, got 'a\\r\\nSet-Cookie: b'")]
    public void Load_BadHeader_ReportsTheHeader(string line, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems($"header:\n  cors:\n{line}\n"));

    [Theory]
    [InlineData("${host:x}", "unknown source 'host' in '${host:x}' (use ${query:NAME}, ${cookie:NAME} or ${claim:NAME})")]
    [InlineData("q-${query:id", "unclosed '${' in '${query:id'")]
    [InlineData("${cookie:}", "empty name in '${cookie:}'")]
    [InlineData("''", "queue pattern is empty")]
    public void Load_BadQueuePattern_ReportsTheProblem(string pattern, string expected) =>
        Assert.Equal([$"FILE:2: queue.pattern: {expected}"], ConfigTesting.Problems($"queue:\n  pattern: {pattern}\n"));

    [Theory]
    [InlineData("level: verbose", "FILE:2: log.level: expected one of trace, debug, information, warning, error, critical, got 'verbose'")]
    [InlineData("format: xml", "FILE:2: log.format: expected one of text, json, got 'xml'")]
    public void Load_BadLogSetting_ReportsTheChoices(string line, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems($"log:\n  {line}\n"));

    [Fact]
    public void Load_LogSettingInOtherCase_IsStoredInLowerCase()
    {
        var options = ConfigTesting.Load("log:\n  level: Warning\n  format: JSON\n");

        Assert.Equal(("warning", "json"), (options.Log.Level, options.Log.Format));
    }
}
