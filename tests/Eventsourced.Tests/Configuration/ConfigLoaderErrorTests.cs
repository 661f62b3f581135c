namespace Eventsourced.Tests.Configuration;

/// <summary>Each kind of structural problem (types, keys, YAML), with the exact line it is reported as.</summary>
public sealed class ConfigLoaderErrorTests
{
    private const string Servers = "known: address, path, heartbeat, shutdown_timeout, write_timeout, tls";

    [Theory]
    [InlineData("server:\n  address:\n    host: x\n", "FILE:3: server.address: expected a single value, got a mapping")]
    [InlineData("queue:\n  prefetch: [1]\n", "FILE:2: queue.prefetch: expected a single value, got a list")]
    [InlineData("server: 1\n", "FILE:1: server: expected a mapping of keys, got a single value")]
    [InlineData("- a\n- b\n", "FILE:1: expected a mapping of sections (server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits), got a list")]
    [InlineData("broker:\n  node: amqp://h/\n", "FILE:2: broker.node: expected a list, got a single value")]
    [InlineData("header:\n  cors: [a]\n", "FILE:2: header.cors: expected a mapping of header names to values, got a list")]
    [InlineData("header:\n  sse:\n    X-A: [1]\n", "FILE:3: header.sse.X-A: expected a single value, got a list")]
    [InlineData("server:\n  [a]: 1\n", "FILE:2: server: keys must be plain names, got a list")]
    public void Load_WrongType_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Theory]
    [InlineData("serve:\n  address: x\n", "FILE:1: serve: unknown section (known: server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits)")]
    [InlineData("Server:\n  address: x\n", "FILE:1: Server: unknown section (known: server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits); did you mean 'server'?")]
    [InlineData("server:\n  adress: x\n", $"FILE:2: server.adress: unknown key ({Servers})")]
    [InlineData("\nserver:\n  path: /\n  Heartbeat: 1\n", $"FILE:4: server.Heartbeat: unknown key ({Servers}); did you mean 'heartbeat'?")]
    [InlineData("server:\n  path: /a\n  path: /b\n", "FILE:3: server.path: duplicate key (first at line 2)")]
    [InlineData("log:\n  level: debug\nlog:\n  format: json\n", "FILE:3: log: duplicate section (first at line 1)")]
    [InlineData("header:\n  cors:\n    X-A: 1\n    x-a: 2\n", "FILE:4: header.cors.x-a: duplicate header (first at line 3)")]
    public void Load_UnknownOrRepeatedKey_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Theory]
    [InlineData("server:\n  address: 'x\n", "FILE:2: invalid YAML: ")]
    [InlineData("server:\n  path: /\n path: /x\n", "FILE:3: invalid YAML: ")]
    [InlineData("server:\n  path: *nothing\n", "FILE:2: invalid YAML: unknown alias '*nothing'")]
    [InlineData("queue:\n  pattern: [a\nserver:\n", "FILE:3: invalid YAML: ")]
    [InlineData("server:\n  path: /\n---\nqueue:\n  prefetch: 1\n", "FILE:3: more than one YAML document; put all settings in one")]
    public void Load_BadYaml_ReportsFileAndLine(string yaml, string expectedStart)
    {
        var problem = Assert.Single(ConfigTesting.Problems(yaml));

        Assert.StartsWith(expectedStart, problem, StringComparison.Ordinal);
    }
}
