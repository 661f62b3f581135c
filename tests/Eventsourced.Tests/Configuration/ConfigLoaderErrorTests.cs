namespace Eventsourced.Tests.Configuration;

/// <summary>Each kind of structural problem (types, keys, YAML), with the exact line it is reported as.</summary>
public sealed class ConfigLoaderErrorTests
{
    private const string Servers = "known: address, path, heartbeat, shutdown_timeout, drain_delay, write_timeout, hosts, tls";

    [Theory]
    [InlineData("server:\n  address:\n    host: x\n", "FILE:3: server.address: expected a single value, got a mapping")]
    [InlineData("queue:\n  prefetch: [1]\n", "FILE:2: queue.prefetch: expected a single value, got a list")]
    [InlineData("server: 1\n", "FILE:1: server: expected a mapping of keys, got a single value")]
    [InlineData("server:\n  hosts:\n    - push.example\n    - https://push.example\n", "FILE:4: server.hosts[1]: expected a host name without scheme or path, got 'https://push.example'")]
    [InlineData("server:\n  hosts:\n    - push.example:443\n", "FILE:3: server.hosts[0]: expected a host name without a port (an IPv6 address in brackets), got 'push.example:443'")]
    [InlineData("server:\n  hosts:\n    - push.*.example\n", "FILE:3: server.hosts[0]: '*' only as the whole entry or as its first label (*.example.com), got 'push.*.example'")]
    [InlineData("- a\n- b\n", "FILE:1: expected a mapping of sections (server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits), got a list")]
    [InlineData("broker:\n  node: amqp://h/\n", "FILE:2: broker.node: expected a list, got a single value")]
    [InlineData("header:\n  cors: [a]\n", "FILE:2: header.cors: expected a mapping of header names to values, got a list")]
    [InlineData("header:\n  sse:\n    X-A: [[1]]\n", "FILE:3: header.sse.X-A: a header's list holds single values, got a list")]
    [InlineData("auth:\n  read_claims:\n    queue: [a, b]\n", "FILE:3: auth.read_claims.queue: expected a single value, got a list")]
    [InlineData("server:\n  [a]: 1\n", "FILE:2: server: keys must be plain names, got a list")]
    public void Load_WrongType_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    /// <summary>
    /// Several origins as a YAML list, as a web team writes them: one header value, joined with commas as the README's
    /// comma-separated form. It was refused, and then also reported as credentials for every origin ('*', the default it fell back to).
    /// </summary>
    [Fact]
    public void Load_HeaderValueAsList_IsOneCommaSeparatedValue()
    {
        var options = ConfigTesting.Load("header:\n  cors:\n    Access-Control-Allow-Origin:\n      - https://a.example\n      - https://b.example:8443\n    Access-Control-Allow-Credentials: true\n    Access-Control-Allow-Headers: [Authorization, Last-Event-ID]\n");

        Assert.Equal("https://a.example, https://b.example:8443", options.Header.Cors["Access-Control-Allow-Origin"]);
        Assert.Equal("Authorization, Last-Event-ID", options.Header.Cors["Access-Control-Allow-Headers"]);
        Assert.Equal("https://a.example, https://b.example", ConfigTesting.Load("header:\n  cors:\n    Access-Control-Allow-Origin: [https://a.example, https://b.example]\n    Access-Control-Allow-Credentials: true\n").Header.Cors["Access-Control-Allow-Origin"]);
    }

    /// <summary>A stop that may take no time: taken, it cut every stream without its end event, and the stop took seconds anyway.</summary>
    [Theory]
    [InlineData("server:\n  shutdown_timeout: 0\n", "FILE:2: server.shutdown_timeout: must be from 1 to 3600, got 0")]
    [InlineData("server:\n  shutdown_timeout: 3601\n", "FILE:2: server.shutdown_timeout: must be from 1 to 3600, got 3601")]
    public void Load_ShutdownTimeoutOutsideItsRange_ReportsFileLineAndKey(string yaml, string expected) =>
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
    [InlineData("x-defaults: &d\n  heartbeat: 5\nserver:\n  <<: *d\n", "FILE:4: server.<<: unknown key (" + Servers + "); YAML's merge key (<<: *anchor) is not supported: write the keys out (an alias, *anchor, works for a single value)")]
    [InlineData("<<: {server: {heartbeat: 5}}\n", "FILE:1: <<: unknown section (known: server, broker, queue, topics, header, auth, sse, ws, poll, events, log, metrics, health, limits); YAML's merge key (<<: *anchor) is not supported: write the keys out (an alias, *anchor, works for a single value)")]
    public void Load_AMergeKey_IsNamedAndExplained(string yaml, string expected) =>
        // Before: "server.<2 characters, not shown>: unknown key (known: ...)", neither the key nor why.
        Assert.Contains(expected, ConfigTesting.Problems(yaml));

    [Theory]
    [InlineData("server:\n  address: 'x\n", "FILE:2: invalid YAML: ")]
    [InlineData("server:\n  path: /\n path: /x\n", "FILE:3: invalid YAML: ")]
    [InlineData("server:\n  path: *nothing\n", "FILE:2: invalid YAML: unknown alias '*nothing'")]
    [InlineData("queue:\n  pattern: [a\nserver:\n", "FILE:3: invalid YAML: ")]
    [InlineData("server:\n  path: /\n---\nqueue:\n  prefetch: 1\n", "FILE:3: more than one YAML document; put all settings in one")]
    [InlineData("server:\n  path: /\n\theartbeat: 5\n", "FILE:3: invalid YAML: 'heartbeat' is indented with a tab; YAML indents with spaces only")]
    [InlineData("server:\n  path: /\nqueue:\n\texpires: 5\n", "FILE:4: invalid YAML: 'expires' is indented with a tab; YAML indents with spaces only")]
    [InlineData("queue:\n  # a comment\n\n\tprefetch: 5\n", "FILE:4: invalid YAML: 'prefetch' is indented with a tab; YAML indents with spaces only")]
    [InlineData("broker:\n  node:\n\t- amqp://a/\n", "FILE:3: invalid YAML: this line is indented with a tab; YAML indents with spaces only")]
    [InlineData("header:\n  cors:\n    X-A: 1\n\t- X-B: 2\n", "FILE:4: invalid YAML: 'X-B' is indented with a tab; YAML indents with spaces only")]
    public void Load_BadYaml_ReportsFileAndLine(string yaml, string expectedStart)
    {
        var problem = Assert.Single(ConfigTesting.Problems(yaml));

        Assert.StartsWith(expectedStart, problem, StringComparison.Ordinal);
    }

    private const string CoreTags = "only the core schema's tags (!!str, !!int, !!float, !!bool, !!null, !!seq, !!map) are taken; leave the tag out";

    /// <summary>A tag names a type the gateway does not know; it read <c>!foo 3</c> as plain <c>3</c> and went on.</summary>
    [Theory]
    [InlineData("queue:\n  expires: !foo 3\n", $"FILE:2: queue.expires: unknown YAML tag '!foo': {CoreTags}")]
    [InlineData("queue:\n  expires: !!python/object:os.system 3\n", $"FILE:2: queue.expires: unknown YAML tag '!!python/object:os.system': {CoreTags}")]
    [InlineData("queue:\n  expires: !<tag:example.com,2000:x> 3\n", $"FILE:2: queue.expires: unknown YAML tag '!<tag:example.com,2000:x>': {CoreTags}")]
    [InlineData("broker:\n  node:\n    - amqp://a/\n    - !url amqp://b/\n", $"FILE:4: broker.node[1]: unknown YAML tag '!url': {CoreTags}")]
    [InlineData("header:\n  cors: !headers\n    X-A: 1\n", $"FILE:2: header.cors: unknown YAML tag '!headers': {CoreTags}")]
    [InlineData("!config\nqueue:\n  expires: 3\n", $"FILE:1: unknown YAML tag '!config': {CoreTags}")]
    [InlineData("!foo queue:\n  expires: 3\n", $"FILE:1: queue: unknown YAML tag '!foo': {CoreTags}")]
    [InlineData("queue:\n  !foo expires: 3\n", $"FILE:2: queue.expires: unknown YAML tag '!foo': {CoreTags}")]
    [InlineData("queue: {!foo expires: 3}\n", $"FILE:1: queue.expires: unknown YAML tag '!foo': {CoreTags}")]
    [InlineData("queue:\n  ? !foo expires\n  : 3\n", $"FILE:2: queue.expires: unknown YAML tag '!foo': {CoreTags}")]
    [InlineData("queue:\n  expires: !!int abc\n", "FILE:2: queue.expires: 'abc' is not a !!int")]
    [InlineData("queue:\n  expires: !!seq 3\n", "FILE:2: queue.expires: YAML tag '!!seq' does not fit a single value")]
    public void Load_UnknownYamlTag_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    /// <summary>
    /// A value that does not fit its tag was quoted as it is, a secret too: <c>secret: !!int S3cret...</c> printed the
    /// secret (and a broker URL its password) on the console and in the container's log, which every other problem hides.
    /// </summary>
    [Theory]
    [InlineData("auth:\n  jwt:\n    secret: !!int S3cretValue-0123456789abcdef0123456789\n", "FILE:3: auth.jwt.secret: a secret of 38 characters (not shown) is not a !!int")]
    [InlineData("auth:\n  jwt:\n    secrets: [!!bool 'HS256:S3cretValue-0123456789abcdef0123456789']\n", "FILE:3: auth.jwt.secrets[0]: a secret of 44 characters (not shown) is not a !!bool")]
    [InlineData("metrics:\n  Token: !!float S3cretToken\n", "FILE:2: metrics.Token: a secret of 11 characters (not shown) is not a !!float")]
    [InlineData("broker:\n  node:\n    - amqp://a/\n    - !!null amqp://app:S3cretPassword@b:5672/\n", "FILE:4: broker.node[1]: 'amqp://app:***@b:5672/' is not a !!null")]
    [InlineData("auth:\n  jwt:\n    jwks_url: !!int https://idp.example/jwks?api_key=S3cretKey\n", "FILE:3: auth.jwt.jwks_url: 'https://idp.example/jwks?api_key=***' is not a !!int")]
    public void Load_SecretNotFittingItsTag_IsNotShown(string yaml, string expected)
    {
        var problem = Assert.Single(ConfigTesting.Problems(yaml));

        Assert.Equal(expected, problem);
        Assert.DoesNotContain("S3cret", problem, StringComparison.Ordinal);
    }

    /// <summary>
    /// An unknown key or section was quoted as it is: a secret pasted a line too high (<c>S3cret...:</c> under
    /// <c>jwt:</c>), or a file that is no configuration (<c>/etc/shadow</c>'s <c>user:hash:...:</c> lines), was printed on
    /// the console and in the log. A name that could be a misspelt setting is still quoted.
    /// </summary>
    [Theory]
    [InlineData("auth:\n  jwt:\n    S3cretValue0123456789abcdef0123456789:\n", "FILE:3: auth.jwt.<37 characters, not shown>: unknown key")]
    [InlineData("root:$6$salt$S3cretHash:20228:0:99999:7:::\n", "FILE:1: <41 characters, not shown>: unknown section")]
    [InlineData("auth:\n  jwt:\n    S3cret:\n", "FILE:3: auth.jwt.S3cret: unknown key")]
    [InlineData("server:\n  adress: x\n", "FILE:2: server.adress: unknown key")]
    [InlineData("Server-2:\n  address: x\n", "FILE:1: Server-2: unknown section")]
    public void Load_UnknownName_IsQuotedOnlyWhenItCouldBeASetting(string yaml, string expected)
    {
        var problem = Assert.Single(ConfigTesting.Problems(yaml));

        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EveryUnknownTag_IsReported() =>
        Assert.Equal(2, ConfigTesting.Problems("queue:\n  expires: !a 3\n  prefetch: !b 4\n").Length);

    [Fact]
    public void Load_CoreSchemaTags_AreTaken()
    {
        var options = ConfigTesting.Load("queue: !!map\n  expires: !!int 3\n  pattern: !!str null\n  bind: !!seq\n    - ! x:fanout\n");

        Assert.Equal(3, options.Queue.ExpiresSeconds);
        Assert.Equal("null", options.Queue.Pattern);
        Assert.Equal(["x:fanout"], options.Queue.Bind);
    }
}
