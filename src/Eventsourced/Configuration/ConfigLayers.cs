using System.Collections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace Eventsourced.Configuration;

/// <summary>
/// Turns configuration providers into <see cref="ConfigNode"/> trees that <see cref="ConfigMerger"/> layers:
/// the values come from the providers; each node also knows where it came from, which the standard
/// providers do not record (the variable's exact name, the key's path).
/// </summary>
internal static class ConfigLayers
{
    /// <summary>
    /// The standard prefixed environment provider's keys as a tree. Top-level keys without children are not
    /// configuration (<c>EVENTSOURCED_TEST_AMQP</c>: no <c>__</c> after the prefix) and are left out.
    /// The standard provider keeps one of two variables that differ only in case; the process environment
    /// is scanned to name each key's variable and to report such pairs, which the provider cannot.
    /// </summary>
    public static ConfigNode FromEnvironment(string prefix, List<ConfigProblem> problems)
    {
        var provider = new EnvironmentVariablesConfigurationProvider(prefix);
        provider.Load();
        var names = VariableNames(prefix, problems);
        var root = ConfigNode.Mapping(ConfigLocation.Variable(prefix + "*"));
        foreach (var section in Children(provider, null))
        {
            var node = FromProvider(provider, section, names, problems);
            if (node.Kind == ConfigNodeKind.Mapping)
            {
                root.Entries.Add(new(ConfigNode.Scalar(ConfigurationPath.GetSectionKey(section), node.Location), node));
            }
        }

        return root;
    }

    /// <summary>An application's own configuration (the gateway embedded with <c>AddEventsourced</c>) as one layer.</summary>
    public static ConfigNode FromConfiguration(IConfiguration configuration)
    {
        var root = ConfigNode.Mapping(ConfigLocation.ConfigurationKey(configuration is IConfigurationSection s ? s.Path : "(root)"));
        foreach (var child in configuration.GetChildren())
        {
            root.Entries.Add(new(ConfigNode.Scalar(child.Key, ConfigLocation.ConfigurationKey(child.Path)), FromSection(child)));
        }

        return root;
    }

    private static ConfigNode FromSection(IConfigurationSection section)
    {
        var where = ConfigLocation.ConfigurationKey(section.Path);
        var children = section.GetChildren().ToArray();
        if (children.Length == 0)
        {
            return ConfigNode.Scalar(section.Value, where);
        }

        var node = ConfigNode.Mapping(where);
        foreach (var child in children)
        {
            node.Entries.Add(new(ConfigNode.Scalar(child.Key, ConfigLocation.ConfigurationKey(child.Path)), FromSection(child)));
        }

        return node;
    }

    private static ConfigNode FromProvider(EnvironmentVariablesConfigurationProvider provider, string path, Dictionary<string, string> names, List<ConfigProblem> problems)
    {
        // In the order of the variables' names, as a reader of `env | sort` would see them.
        var children = Children(provider, path)
            .Select(child => (Path: child, Node: FromProvider(provider, child, names, problems)))
            .OrderBy(child => child.Node.Location.Source, StringComparer.Ordinal)
            .ToArray();
        var own = names.TryGetValue(path, out var name) && provider.TryGet(path, out var value) ? (Where: ConfigLocation.Variable(name), Value: value) : default;
        if (children.Length == 0)
        {
            return ConfigNode.Scalar(own.Value, own.Where);
        }

        // A key no variable sets itself (a section) is where its first variable is.
        var node = ConfigNode.Mapping(children[0].Node.Location);
        foreach (var child in children)
        {
            node.Entries.Add(new(ConfigNode.Scalar(ConfigurationPath.GetSectionKey(child.Path), child.Node.Location), child.Node));
        }

        if (own.Value is not null)
        {
            // EVENTSOURCED_BROKER__NODE and EVENTSOURCED_BROKER__NODE__0: a value and children at once.
            problems.Add(new(children[0].Node.Location, DisplayKey(path), $"also set by {own.Where.Source}; give only one of them"));
        }

        return node;
    }

    /// <summary>The distinct child paths of <paramref name="parent"/> (null: the top level), in the provider's order.</summary>
    private static IEnumerable<string> Children(IConfigurationProvider provider, string? parent) =>
        provider.GetChildKeys([], parent)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(key => parent is null ? key : ConfigurationPath.Combine(parent, key));

    /// <summary>Each configuration key's variable name; variables naming the same key in another case are reported.</summary>
    private static Dictionary<string, string> VariableNames(string prefix, List<ConfigProblem> problems)
    {
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var variables = Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .Select(e => (string)e.Key)
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var name in variables)
        {
            var key = name[prefix.Length..].Replace("__", ":", StringComparison.Ordinal);
            if (!names.TryAdd(key, name))
            {
                problems.Add(new(ConfigLocation.Variable(name), DisplayKey(key), $"also set by {names[key]}; give only one of them"));
            }
        }

        return names;
    }

    /// <summary><c>section.key</c> for a problem line: section and key in lower case (their names in files), the rest as given.</summary>
    private static string DisplayKey(string path) =>
        string.Join('.', path.Split(':').Select((part, i) => i < 2 ? part.ToLowerInvariant() : part));
}
