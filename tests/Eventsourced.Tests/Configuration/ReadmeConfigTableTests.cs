using System.Globalization;
using System.Text.RegularExpressions;
using Eventsourced.Configuration;
using Eventsourced.Tests.Documentation;

namespace Eventsourced.Tests.Configuration;

/// <summary>The README's table of keys under "Configuration" names every key, and a single value's default as the program has it.</summary>
public sealed partial class ReadmeConfigTableTests
{
    private static readonly Dictionary<string, string> Rows = ReadRows();

    public static TheoryData<string> Keys() => [.. ConfigSchema.Gateway.Keys.Select(k => k.Path)];

    [Theory]
    [MemberData(nameof(Keys))]
    public void Readme_ConfigurationTable_HasARowForTheKeyWithItsDefault(string path)
    {
        var key = ConfigSchema.Gateway.Keys.Single(k => k.Path == path);
        var section = ConfigSchema.Gateway.AllSections.Single(s => s.Keys.Contains(key));

        Assert.True(Rows.TryGetValue(path, out var documented), $"README's configuration table has no row for {path}");
        if (key.Get(section.Get(new GatewayOptions())) is { } value && key.Kind is not (KeyKind.List or KeyKind.Map))
        {
            var expected = value switch
            {
                bool flag => flag ? "true" : "false",
                int number => number.ToString(CultureInfo.InvariantCulture),
                "" => "''",
                _ => value.ToString(),
            };
            Assert.Equal(expected, documented);
        }
    }

    /// <summary>Each key the table's rows name (<c>| `a`, `b` | `1`, `2` | ...</c>: one default per key), with its default.</summary>
    private static Dictionary<string, string> ReadRows()
    {
        var readme = File.ReadAllText(RepositoryFile.Find("README.md"));
        var start = readme.IndexOf("\n## Configuration\n", StringComparison.Ordinal);
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in readme[start..end].Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            var cells = line.Trim('|').Split('|');
            var keys = Code().Matches(cells[0]).Select(m => m.Groups[1].Value).ToArray();
            var defaults = Code().Matches(cells[1]).Select(m => m.Groups[1].Value).ToArray();
            for (var i = 0; i < keys.Length; i++)
            {
                rows[keys[i]] = i < defaults.Length ? defaults[i] : cells[1].Trim();
            }
        }

        return rows;
    }

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex Code();
}
