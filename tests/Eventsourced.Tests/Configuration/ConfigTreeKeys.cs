using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>The <c>section.key</c> paths of a YAML text, in order (<c>section.subsection.key</c> in a subsection of the schema).</summary>
internal static class ConfigTreeKeys
{
    private static readonly HashSet<string> SectionPaths = ConfigSchema.Gateway.AllSections.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);

    public static IEnumerable<string> Of(string yaml, string name)
    {
        var problems = new List<ConfigProblem>();
        var root = YamlConfigReader.Read(name, yaml, problems);
        Assert.Empty(problems);
        Assert.NotNull(root);
        return root.Entries.SelectMany(section => KeysOf(section.Key.Value!, section.Value)).ToArray();
    }

    private static IEnumerable<string> KeysOf(string path, ConfigNode section) =>
        section.Entries.SelectMany(entry =>
        {
            var child = $"{path}.{entry.Key.Value}";
            return SectionPaths.Contains(child) ? KeysOf(child, entry.Value) : [child];
        });
}
