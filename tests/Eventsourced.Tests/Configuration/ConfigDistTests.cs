using Eventsourced.Configuration;
using Eventsourced.Tests.Documentation;

namespace Eventsourced.Tests.Configuration;

/// <summary>The shipped <c>config.yml-dist</c> documents every key with its default.</summary>
public sealed class ConfigDistTests
{
    private static readonly string DistFile = RepositoryFile.Find("config.yml-dist");

    [Fact]
    public void Load_ConfigYmlDist_GivesExactlyTheDefaults()
    {
        var loaded = ConfigTesting.LoadSources([], DistFile, ConfigTesting.NoEnvironment);

        Assert.Equal(ConfigPrinter.ToYaml(new GatewayOptions()), ConfigPrinter.ToYaml(loaded.Options));
    }

    [Fact]
    public void Read_ConfigYmlDist_ListsEveryKeyInSchemaOrder()
    {
        var keys = ConfigTreeKeys.Of(File.ReadAllText(DistFile), DistFile);

        Assert.Equal(ConfigSchema.Gateway.Keys.Select(k => k.Path), keys);
        Assert.Contains("queue.expires", keys);
    }
}
