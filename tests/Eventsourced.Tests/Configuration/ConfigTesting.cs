using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>Loads YAML text and environment variables the way the tests need them.</summary>
internal static class ConfigTesting
{
    public static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();

    public static Dictionary<string, string?> Env(params (string Name, string? Value)[] variables) =>
        variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);

    /// <summary>Loads one required file with <paramref name="yaml"/> and the given environment.</summary>
    public static GatewayOptions Load(string yaml, IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var file = new TempFile(yaml);
        return ConfigLoader.Load(new ConfigSources([], file.Path, environment ?? NoEnvironment)).Options;
    }

    /// <summary>Loads the environment alone.</summary>
    public static GatewayOptions LoadEnvironment(params (string Name, string? Value)[] variables) =>
        ConfigLoader.Load(new ConfigSources([], null, Env(variables))).Options;

    /// <summary>The problem lines of loading <paramref name="yaml"/>, the file's path replaced by <c>FILE</c>.</summary>
    public static string[] Problems(string yaml, IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var file = new TempFile(yaml);
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load(new ConfigSources([], file.Path, environment ?? NoEnvironment)));
        return ex.Message.Split('\n').Select(line => line.Replace(file.Path, "FILE", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>The problem lines of loading the environment alone.</summary>
    public static string[] EnvironmentProblems(params (string Name, string? Value)[] variables) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Load(new ConfigSources([], null, Env(variables)))).Message.Split('\n');
}
