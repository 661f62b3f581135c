using System.Text.RegularExpressions;
using Eventsourced.Configuration;

namespace Eventsourced.Tests.Documentation;

/// <summary>
/// The operator-facing examples (alert descriptions, dashboard panel descriptions) name configuration keys to change;
/// each named key must be one the gateway reads.
/// </summary>
public sealed partial class ExampleConfigKeyTests
{
    [Theory]
    [InlineData("examples/prometheus/alerts.yml")]
    [InlineData("examples/grafana/eventsourced.json")]
    public void Example_NamesOnlyConfigurationKeysTheGatewayReads(string file)
    {
        var keys = ConfigSchema.Gateway.Keys.Select(k => k.Path).ToHashSet(StringComparer.Ordinal);
        var sections = keys.Select(k => k.Split('.')[0]).ToHashSet(StringComparer.Ordinal);
        var text = File.ReadAllText(RepositoryFile.Find(file));

        var unknown = KeyLike().Matches(text)
            .Select(m => m.Value)
            .Where(name => sections.Contains(name.Split('.')[0]))
            .Where(name => !keys.Contains(name) && !keys.Any(k => k.StartsWith(name + ".", StringComparison.Ordinal)))
            .Distinct()
            .ToList();

        Assert.Empty(unknown);
    }

    // section.key or section.key.key, not part of a longer dotted name or a metric's name.
    [GeneratedRegex(@"(?<![\w.])[a-z_]+\.[a-z_]+(?:\.[a-z_]+)?(?![\w.])")]
    private static partial Regex KeyLike();
}
