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
    /// configuration (<c>EVENTSOURCED_TEST_AMQP</c>: no <c>__</c> after the prefix) and are left out, but
    /// one that is a section's name or starts with it and <c>_</c> (<c>EVENTSOURCED_METRICS_TOKEN</c>) is a
    /// problem: left out, it would leave the key at its default without a word (no metrics token, no key).
    /// The standard provider keeps one of two variables that differ only in case; the process environment
    /// is scanned to name each key's variable and to report such pairs, which the provider cannot.
    /// </summary>
    public static ConfigNode FromEnvironment(string prefix, ConfigSchema schema, List<ConfigProblem> problems)
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
            else if (SingleUnderscoreProblem(node.Location, prefix.Length, schema) is { } problem)
            {
                problems.Add(problem);
            }
        }

        problems.AddRange(ExtraUnderscoreProblems(names.Values, prefix.Length, schema));
        return root;
    }

    /// <summary>
    /// Variables with two underscores after the prefix where it takes one (<c>EVENTSOURCED__QUEUE__EXPIRES</c>, as if
    /// the prefix were a section) that name a section: the standard provider turns <c>__</c> into <c>:</c> before it
    /// looks for its prefix, so it never sees them, and the key stayed at its default without a word (a broker URL
    /// given so left the gateway on <c>guest@localhost</c>).
    /// </summary>
    /// <param name="variables">The prefixed variables of the process (<see cref="VariableNames"/>).</param>
    private static IEnumerable<ConfigProblem> ExtraUnderscoreProblems(IEnumerable<string> variables, int prefixLength, ConfigSchema schema)
    {
        foreach (var name in variables.Where(n => n.Length > prefixLength + 1 && n[prefixLength] == '_').Order(StringComparer.Ordinal))
        {
            var rest = name[prefixLength..].TrimStart('_');
            if (SectionNamed(rest, schema) is not null)
            {
                yield return new(ConfigLocation.Variable(name), null, $"not read: the prefix {name[..prefixLength]} takes one underscore, as in {name[..prefixLength]}{rest}");
            }
        }
    }

    /// <summary>The section <paramref name="key"/> starts with: its name alone, or followed by <c>_</c>; null if none.</summary>
    private static SchemaSection? SectionNamed(string key, ConfigSchema schema) => schema.Sections.FirstOrDefault(section =>
        key.StartsWith(section.Name, StringComparison.OrdinalIgnoreCase) && (key.Length == section.Name.Length || key[section.Name.Length] == '_'));

    /// <summary>
    /// A variable named like a section's key with one underscore where two belong, with the name it needs
    /// when the rest is a key of that section (<c>EVENTSOURCED_AUTH_JWT_SECRET</c>: <c>EVENTSOURCED_AUTH__JWT__SECRET</c>).
    /// </summary>
    private static ConfigProblem? SingleUnderscoreProblem(ConfigLocation where, int prefixLength, ConfigSchema schema)
    {
        if (where.Kind != ConfigSourceKind.Environment || where.Source is not { } name || name.Length <= prefixLength)
        {
            return null;
        }

        var key = name[prefixLength..];
        if (SectionNamed(key, schema) is not { } section)
        {
            return null;
        }

        var head = name[..(prefixLength + section.Name.Length)];
        var rest = key.Length > section.Name.Length ? key[(section.Name.Length + 1)..] : string.Empty;
        var message = KeyPath(section, rest) is { } parts
            ? $", as in {head}__{string.Join("__", parts)}"
            : $" ({head}__{(char.IsLower(head[^1]) ? "key" : "KEY")})";
        return new(where, null, $"not read: two underscores separate a section from its key{message}");
    }

    /// <summary><paramref name="rest"/> as a key of <paramref name="section"/> or of its subsections, split where <c>__</c> belongs; null if it is none.</summary>
    private static string[]? KeyPath(SchemaSection section, string rest)
    {
        if (section.Keys.Any(k => k.Aliases.Prepend(k.Name).Any(n => string.Equals(n, rest, StringComparison.OrdinalIgnoreCase))))
        {
            return [rest];
        }

        foreach (var subsection in section.Subsections)
        {
            if (rest.Length > subsection.Name.Length + 1
                && rest.StartsWith(subsection.Name, StringComparison.OrdinalIgnoreCase)
                && rest[subsection.Name.Length] == '_'
                && KeyPath(subsection, rest[(subsection.Name.Length + 1)..]) is { } parts)
            {
                return [rest[..subsection.Name.Length], .. parts];
            }
        }

        return null;
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
