using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>Adding a key is one line in a key table; these bind a table with keys the schema does not have yet.</summary>
public sealed class ConfigKeyTests
{
    [Theory]
    [InlineData("true", true)]
    [InlineData("FALSE", false)]
    public void Flag_TrueOrFalse_IsStored(string text, bool expected)
    {
        bool? stored = null;
        var keys = new[] { ConfigKey.Flag("metrics.enabled", _ => stored ?? false, (_, v) => stored = v) };

        var problems = Bind(keys, $"metrics:\n  enabled: {text}\n");

        Assert.Empty(problems);
        Assert.Equal(expected, stored);
    }

    [Fact]
    public void Flag_OtherText_IsAProblem()
    {
        var keys = new[] { ConfigKey.Flag("metrics.enabled", _ => false, (_, _) => Assert.Fail("stored")) };

        var problems = Bind(keys, "metrics:\n  enabled: yes\n");

        Assert.Equal(["test.yml:2: metrics.enabled: expected true or false, got 'yes'"], problems);
    }

    [Fact]
    public void Text_NewSection_IsCheckedAndStored()
    {
        string? stored = null;
        var keys = new[] { ConfigKey.Text("health.path", _ => stored ?? "/", (_, v) => stored = v, ConfigRules.UrlPath) };

        Assert.Empty(Bind(keys, "health:\n  path: /healthz\n"));
        Assert.Equal("/healthz", stored);
        Assert.Equal(["test.yml:2: health.path: must start with '/', got 'x'"], Bind(keys, "health:\n  path: x\n"));
    }

    [Fact]
    public void Number_BadValue_IsNotStored()
    {
        var keys = new[] { ConfigKey.Number("metrics.port", _ => 9090, (_, _) => Assert.Fail("stored"), 1, 65535) };

        Assert.Equal(["test.yml:2: metrics.port: must be from 1 to 65535, got 0"], Bind(keys, "metrics:\n  port: 0\n"));
    }

    [Fact]
    public void Text_BadValue_IsNotStored()
    {
        var keys = new[] { ConfigKey.Text("health.path", _ => "/", (_, _) => Assert.Fail("stored"), ConfigRules.UrlPath) };

        Assert.Single(Bind(keys, "health:\n  path: x\n"));
    }

    private static string[] Bind(IReadOnlyList<ConfigKey> keys, string yaml)
    {
        var problems = new List<ConfigProblem>();
        var root = YamlConfigReader.Read("test.yml", yaml, problems);
        Assert.NotNull(root);
        new ConfigBinder(new GatewayOptions(), keys, problems).Bind(root);
        return problems.Select(p => p.ToString()).ToArray();
    }
}
