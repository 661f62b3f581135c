using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>The <c>section.key</c> paths of a YAML text, in order.</summary>
internal static class ConfigTreeKeys
{
    public static IEnumerable<string> Of(string yaml, string name)
    {
        var problems = new List<ConfigProblem>();
        var root = YamlConfigReader.Read(name, yaml, problems);
        Assert.Empty(problems);
        Assert.NotNull(root);
        return root.Entries.SelectMany(section => section.Value.Entries.Select(key => $"{section.Key.Value}.{key.Key.Value}")).ToArray();
    }
}
