using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>Adding a key is adding an options property; these load a schema with keys the gateway does not have.</summary>
public sealed class ConfigKeyTests
{
    [Theory]
    [InlineData("true", true)]
    [InlineData("FALSE", false)]
    public void Flag_TrueOrFalse_IsStored(string text, bool expected)
    {
        var (problems, options) = Load($"metrics:\n  enabled: {text}\n");

        Assert.Empty(problems);
        Assert.Equal(expected, options.Metrics.Enabled);
    }

    [Fact]
    public void Flag_OtherText_IsAProblem()
    {
        var (problems, options) = Load("metrics:\n  enabled: yes\n");

        Assert.Equal(["test.yml:2: metrics.enabled: expected true or false, got 'yes'"], problems);
        Assert.False(options.Metrics.Enabled);
    }

    [Fact]
    public void Text_NewSection_IsCheckedAndStored()
    {
        var (problems, options) = Load("health:\n  path: /healthz\n");

        Assert.Empty(problems);
        Assert.Equal("/healthz", options.Health.Path);
        Assert.Equal(["test.yml:2: health.path: must start with '/', got 'x'"], Load("health:\n  path: x\n").Problems);
    }

    [Fact]
    public void Number_BadValue_IsAProblem() =>
        Assert.Equal(["test.yml:2: metrics.port: must be from 1 to 65535, got 0"], Load("metrics:\n  port: 0\n").Problems);

    [Fact]
    public void Number_NotANumber_IsNotStored()
    {
        var (problems, options) = Load("metrics:\n  port: many\n");

        Assert.Equal(["test.yml:2: metrics.port: expected a whole number, got 'many'"], problems);
        Assert.Equal(9090, options.Metrics.Port);
    }

    [Fact]
    public void Text_BadValue_IsAProblem() =>
        Assert.Single(Load("health:\n  path: x\n").Problems);

    [Fact]
    public void Schema_ReadsNamesKindsAndBoundsOffTheProperties()
    {
        var keys = ConfigSchema.For(typeof(TestRoot)).Keys.ToArray();

        Assert.Equal(["metrics.enabled", "metrics.port", "health.path"], keys.Select(k => k.Path));
        Assert.Equal([KeyKind.Flag, KeyKind.Number, KeyKind.Text], keys.Select(k => k.Kind));
        Assert.Equal((1, 65535), (keys[1].Min, keys[1].Max));
    }

    private static (string[] Problems, TestRoot Options) Load(string yaml)
    {
        var problems = new List<ConfigProblem>();
        var tree = YamlConfigReader.Read("test.yml", yaml, problems);
        Assert.NotNull(tree);
        var schema = ConfigSchema.For(typeof(TestRoot));
        var merger = new ConfigMerger(schema, problems);
        merger.Merge(tree);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(merger.Data.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value.Value)))
            .Build();
        var options = new TestRoot();
        OptionsBinder.Bind(configuration, schema, options);
        var origins = merger.Origins;
        problems.AddRange(OptionsChecker.Check(schema, options, origins));
        return (problems.Select(p => p.ToString()).ToArray(), options);
    }

    public sealed class TestRoot
    {
        [ConfigurationKeyName("metrics")]
        public TestMetrics Metrics { get; set; } = new();

        [ConfigurationKeyName("health")]
        public TestHealth Health { get; set; } = new();
    }

    public sealed class TestMetrics
    {
        [ConfigurationKeyName("enabled")]
        public bool Enabled { get; set; }

        [ConfigurationKeyName("port")]
        [Range(1, 65535)]
        public int Port { get; set; } = 9090;
    }

    public sealed class TestHealth
    {
        [ConfigurationKeyName("path")]
        [ValueRule<UrlPath>]
        public string Path { get; set; } = "/";
    }
}
