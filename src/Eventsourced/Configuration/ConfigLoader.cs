using Eventsourced.Authentication;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>
/// Loads the gateway's configuration: YAML files (<see cref="YamlConfigurationProvider"/>) and
/// environment variables (the standard prefixed provider), layered by <see cref="ConfigMerger"/>, bound to
/// <see cref="GatewayOptions"/> by the standard binder, and checked (<see cref="OptionsChecker"/>). Every
/// problem of every source is collected, each naming file and line (or variable) and key.
/// </summary>
public static class ConfigLoader
{
    /// <exception cref="ConfigException">Every problem of every source, one per line, in source order.</exception>
    public static LoadedConfig Load(ConfigSources sources) => Read(sources).ThrowIfInvalid();

    /// <summary>Like <see cref="Load"/>, with the problems in the result instead of an exception.</summary>
    internal static LoadedConfig Read(ConfigSources sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var problems = new List<ConfigProblem>();
        var merger = new ConfigMerger(ConfigSchema.Gateway, problems);
        var filesRead = new List<string>();
        var files = sources.OptionalFiles.Select(f => (Path: f, Optional: true)).ToList();
        if (sources.RequiredFile is { } required)
        {
            files.Add((required, false));
        }

        foreach (var (path, optional) in files)
        {
            var provider = new YamlConfigurationProvider(new YamlConfigurationSource { Path = path, Optional = optional }) { CollectProblems = true };
            provider.Load();
            problems.AddRange(provider.Problems);
            if (provider.WasRead)
            {
                filesRead.Add(path);
            }

            if (provider.Tree is { } tree)
            {
                merger.Merge(tree);
            }
        }

        merger.Merge(ConfigLayers.FromEnvironment(sources.EnvironmentPrefix, ConfigSchema.Gateway, problems));
        var order = files.Select(f => f.Path).ToList();
        return Finish(merger, problems, filesRead, program: true, where => where.Kind switch
        {
            ConfigSourceKind.File => (order.IndexOf(where.Source), where.Line, string.Empty),
            ConfigSourceKind.Environment => (order.Count, 0, where.Source),
            _ => (order.Count + 1, 0, string.Empty),
        });
    }

    /// <summary>An application's own configuration (the gateway embedded with <c>AddEventsourced</c>): one layer, same checks.</summary>
    internal static LoadedConfig Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var problems = new List<ConfigProblem>();
        var merger = new ConfigMerger(ConfigSchema.Gateway, problems);
        merger.Merge(ConfigLayers.FromConfiguration(configuration));
        return Finish(merger, problems, [], program: false, where => (where.Kind == ConfigSourceKind.Derived ? 1 : 0, 0, where.Source));
    }

    private static LoadedConfig Finish(
        ConfigMerger merger, List<ConfigProblem> problems, IReadOnlyList<string> filesRead, bool program, Func<ConfigLocation, (int Layer, long Line, string Name)> order)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(merger.Data.Select(e => KeyValuePair.Create(e.Key, (string?)e.Value.Value)))
            .Build();
        var origins = merger.Origins;
        var options = new GatewayOptions();
        OptionsBinder.Bind(configuration, ConfigSchema.Gateway, options);
        RelativePaths.Resolve(options, origins);
        var sourceProblems = problems.ToArray();
        var sorted = problems.Concat(Check(options, origins)).Concat(program ? AuthConfigCheck.CheckProgram(options, origins) : [])
            .Select((problem, i) => (problem, i))
            .OrderBy(p => order(p.problem.Where).Layer)
            .ThenBy(p => order(p.problem.Where).Line)
            .ThenBy(p => order(p.problem.Where).Name, StringComparer.Ordinal)
            .ThenBy(p => p.i)
            .Select(p => p.problem)
            .ToArray();
        return new LoadedConfig(configuration, origins, options, filesRead, sourceProblems, sorted);
    }

    /// <summary>The checks of bound options: every key's value, then the keys that depend on each other.</summary>
    internal static List<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins) =>
        OptionsChecker.Check(ConfigSchema.Gateway, options, origins,
        [
            root => EndpointPaths.Check((GatewayOptions)root, origins),
            root => OriginPolicy.CheckOptions(((GatewayOptions)root).Header, origins),
            root => AuthConfigCheck.Check((GatewayOptions)root, origins),
            root => WebSockets.WebSocketConfigCheck.Check(((GatewayOptions)root).Ws, origins),
            root => WebSockets.WebSocketConfigCheck.CheckPresence(((GatewayOptions)root).Ws, ((GatewayOptions)root).Events, origins),
            root => TlsFiles.Check((GatewayOptions)root, origins),
            root => Topics.TopicConfigCheck.Check((GatewayOptions)root, origins),
            root => Broker.BrokerNodesCheck.Check(((GatewayOptions)root).Broker, origins),
        ]);
}
