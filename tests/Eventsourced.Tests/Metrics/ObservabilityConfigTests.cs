using Eventsourced.Configuration;
using Eventsourced.Hosting;
using Eventsourced.Tests.Configuration;

namespace Eventsourced.Tests.Metrics;

/// <summary>The <c>metrics</c> and <c>health</c> keys: defaults, moving, switching off, and the paths that are refused.</summary>
public sealed class ObservabilityConfigTests
{
    [Fact]
    public void Defaults_AreTheDocumentedPaths()
    {
        var options = new GatewayOptions();

        Assert.Equal("/metrics", options.Metrics.Path);
        Assert.Equal("/debug/vars", options.Metrics.DebugVars);
        Assert.Equal("/healthz", options.Health.Live);
        Assert.Equal("/readyz", options.Health.Ready);
    }

    [Fact]
    public void Load_MovedAndSwitchedOffPaths_AreTaken()
    {
        var options = ConfigTesting.Load("metrics:\n  path: /ops/metrics\n  debug_vars: ''\nhealth:\n  live: /live\n  ready: /ready/\n");

        Assert.Equal("/ops/metrics", options.Metrics.Path);
        Assert.Equal(string.Empty, options.Metrics.DebugVars);
        Assert.Equal("/live", options.Health.Live);
        Assert.Equal("/ready/", options.Health.Ready);
    }

    [Fact]
    public void Load_EmptyEnvironmentVariable_SwitchesAnEndpointOff()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_METRICS__PATH", ""), ("EVENTSOURCED_HEALTH__READY", "/r"));

        Assert.Equal(string.Empty, options.Metrics.Path);
        Assert.Equal("/r", options.Health.Ready);
    }

    [Fact]
    public void Load_KeyWithoutValue_KeepsTheDefault() =>
        Assert.Equal("/metrics", ConfigTesting.Load("metrics:\n  path:\n").Metrics.Path);

    [Theory]
    [InlineData("metrics:\n  path: metrics\n", "FILE:2: metrics.path: must start with '/', got 'metrics' (or empty to switch the endpoint off)")]
    [InlineData("health:\n  live: 'healthz'\n", "FILE:2: health.live: must start with '/', got 'healthz' (or empty to switch the endpoint off)")]
    [InlineData("health:\n  ready: '/ready z'\n", "FILE:2: health.ready: must not contain spaces, control characters, '?' or '#', got '/ready z' (or empty to switch the endpoint off)")]
    [InlineData("metrics:\n  debug_vars: /debug?vars\n", "FILE:2: metrics.debug_vars: must not contain spaces, control characters, '?' or '#', got '/debug?vars' (or empty to switch the endpoint off)")]
    [InlineData("metrics:\n  path: /{name}\n", "FILE:2: metrics.path: must not contain '{' or '}', got '/{name}'")]
    public void Load_BadPath_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Theory]
    // Each at the place of the key that the file set, not at a default's.
    [InlineData("server:\n  path: /metrics\n", "FILE:2: server.path: '/metrics' is also metrics.path; give each endpoint its own path")]
    [InlineData("server:\n  path: /events/\nmetrics:\n  path: /EVENTS\n", "FILE:4: metrics.path: '/EVENTS' is also server.path; give each endpoint its own path")]
    [InlineData("metrics:\n  path: /\n", "FILE:2: metrics.path: '/' is also server.path; give each endpoint its own path")]
    [InlineData("health:\n  ready: /healthz\n", "FILE:2: health.ready: '/healthz' is also health.live; give each endpoint its own path")]
    [InlineData("metrics:\n  debug_vars: /metrics/\n", "FILE:2: metrics.debug_vars: '/metrics/' is also metrics.path; give each endpoint its own path")]
    [InlineData("ws:\n  path: /poll\n", "FILE:2: ws.path: '/poll' is also poll.path; give each endpoint its own path")]
    public void Load_PathTakenByAnotherEndpoint_IsRefused(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Fact]
    public void Load_CollisionAcrossSources_IsRefused()
    {
        var problems = ConfigTesting.Problems("metrics:\n  path: /m\n", ConfigTesting.Env(("EVENTSOURCED_SERVER__PATH", "/m")));

        Assert.Equal(["FILE:2: metrics.path: '/m' is also server.path; give each endpoint its own path"], problems);
    }

    [Fact]
    public void Load_SwitchedOffEndpoints_NeverCollide()
    {
        var options = ConfigTesting.Load("metrics:\n  path: ''\n  debug_vars: ''\nhealth:\n  live: ''\n  ready: ''\n");

        Assert.Empty(EndpointPaths.Check(options, ConfigOrigins.None));
    }

    [Fact]
    public void Printer_RoundTripsSwitchedOffEndpoints()
    {
        // A broker URL without a password: -c prints a password as '***', which is refused when loaded again.
        var options = ConfigTesting.Load("metrics:\n  path: ''\nhealth:\n  ready: /ready\nbroker:\n  node: [amqp://h1/]\n");

        var reloaded = ConfigTesting.Load(ConfigPrinter.ToYaml(options));

        Assert.Equal(string.Empty, reloaded.Metrics.Path);
        Assert.Equal("/ready", reloaded.Health.Ready);
        Assert.Contains("path: ''", ConfigPrinter.ToYaml(options), StringComparison.Ordinal);
    }

    [Fact]
    public void Build_OptionsSetInCodeWithACollision_Throws()
    {
        var options = new GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Health.Live = "/metrics";

        var ex = Assert.Throws<InvalidOperationException>(() => GatewayApplication.Build(options));

        Assert.Contains("health.live", ex.Message, StringComparison.Ordinal);
    }
}
