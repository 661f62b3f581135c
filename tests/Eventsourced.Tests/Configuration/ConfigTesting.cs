using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>Loads YAML text and environment variables the way the tests need them.</summary>
internal static class ConfigTesting
{
    public static TestEnvironment NoEnvironment => new([]);

    public static TestEnvironment Env(params (string Name, string? Value)[] variables) => new(variables);

    /// <summary>Loads one required file with <paramref name="yaml"/> and the given environment.</summary>
    public static GatewayOptions Load(string yaml, TestEnvironment? environment = null)
    {
        using var file = new TempFile(yaml);
        return LoadSources([], file.Path, environment ?? NoEnvironment).Options;
    }

    /// <summary>Loads the environment alone.</summary>
    public static GatewayOptions LoadEnvironment(params (string Name, string? Value)[] variables) =>
        LoadSources([], null, Env(variables)).Options;

    /// <summary>
    /// <see cref="ConfigLoader.Load"/> of these sources, the variables set in the process environment under a
    /// prefix of this call's own (tests run in parallel); problem lines name them as given.
    /// </summary>
    public static LoadedConfig LoadSources(IReadOnlyList<string> optionalFiles, string? requiredFile, TestEnvironment environment)
    {
        using var applied = environment.Apply();
        try
        {
            return ConfigLoader.Load(new ConfigSources(optionalFiles, requiredFile, environment.Prefix));
        }
        catch (ConfigException ex)
        {
            throw new ConfigException(ex.Problems.Select(environment.AsGiven).ToArray());
        }
    }

    /// <summary>The problem lines of loading <paramref name="yaml"/>, the file's path replaced by <c>FILE</c>.</summary>
    public static string[] Problems(string yaml, TestEnvironment? environment = null)
    {
        using var file = new TempFile(yaml);
        var ex = Assert.Throws<ConfigException>(() => LoadSources([], file.Path, environment ?? NoEnvironment));
        return ex.Message.Split('\n').Select(line => line.Replace(file.Path, "FILE", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>The problem lines of loading the environment alone.</summary>
    public static string[] EnvironmentProblems(params (string Name, string? Value)[] variables) =>
        Assert.Throws<ConfigException>(() => LoadSources([], null, Env(variables))).Message.Split('\n');
}

/// <summary>
/// Environment variables for one test. Names starting with <c>EVENTSOURCED_</c> (any case) are set under a
/// unique prefix of the same length and case, so that tests running at the same time cannot see each
/// other's variables; <see cref="AsGiven"/> turns the names in a problem line back.
/// </summary>
internal sealed class TestEnvironment(IReadOnlyList<(string Name, string? Value)> variables)
{
    private const string Standard = ConfigSources.DefaultEnvironmentPrefix;

    private readonly string _unique = "T" + Guid.NewGuid().ToString("N")[..(Standard.Length - 2)].ToUpperInvariant() + "_";

    /// <summary>The prefix the loader is given instead of <c>EVENTSOURCED_</c>.</summary>
    public string Prefix => _unique;

    public IDisposable Apply()
    {
        var set = variables.Select(v => (Name: Renamed(v.Name), v.Value)).ToArray();
        foreach (var (name, value) in set)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        return new Restore(set.Select(v => v.Name).ToArray());
    }

    public string AsGiven(string line) =>
        variables.OrderByDescending(v => v.Name.Length).Aggregate(line, (text, v) => text.Replace(Renamed(v.Name), v.Name, StringComparison.Ordinal))
            .Replace(_unique, Standard, StringComparison.Ordinal)
            .Replace(_unique.ToLowerInvariant(), Standard.ToLowerInvariant(), StringComparison.Ordinal);

    private string Renamed(string name) =>
        name.StartsWith(Standard, StringComparison.OrdinalIgnoreCase)
            ? string.Concat(_unique.Select((c, i) => char.IsLower(name[i]) ? char.ToLowerInvariant(c) : c)) + name[Standard.Length..]
            : name;

    private sealed class Restore(string[] names) : IDisposable
    {
        public void Dispose()
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }
}
