namespace Eventsourced.Configuration;

/// <summary>
/// Reads <c>EVENTSOURCED_SECTION__KEY[__SUB]</c> variables (ASP.NET's convention, any case) into a
/// <see cref="ConfigNode"/> tree. Variables without <c>__</c> after the prefix are not configuration
/// (<c>EVENTSOURCED_TEST_AMQP</c>) and are skipped.
/// </summary>
internal static class EnvironmentConfigReader
{
    public const string Prefix = "EVENTSOURCED_";

    public const string Separator = "__";

    public static ConfigNode Read(IReadOnlyDictionary<string, string?> environment, List<ConfigProblem> problems)
    {
        var root = ConfigNode.Mapping(ConfigLocation.Variable(Prefix + "*"));
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) || !name.AsSpan(Prefix.Length).Contains(Separator, StringComparison.Ordinal))
            {
                continue;
            }

            // At most three parts: section, key, and a list index or header name (which may itself contain "__").
            var parts = name[Prefix.Length..].Split(Separator, 3);
            var where = ConfigLocation.Variable(name);
            var node = root;
            for (var i = 0; i < parts.Length; i++)
            {
                var last = i == parts.Length - 1;
                var existing = node.Entries.FirstOrDefault(e => string.Equals(e.Key.Value, parts[i], StringComparison.OrdinalIgnoreCase)).Value;
                if (existing is null)
                {
                    var child = last ? ConfigNode.Scalar(value, where) : ConfigNode.Mapping(where);
                    node.Entries.Add(new(ConfigNode.Scalar(parts[i], where), child));
                    node = child;
                }
                else if (last || existing.Kind != ConfigNodeKind.Mapping)
                {
                    var key = string.Join('.', parts.Take(i + 1).Select((p, n) => n < 2 ? p.ToLowerInvariant() : p));
                    problems.Add(new(where, key, $"also set by {existing.Location.Source}; give only one of them"));
                    break;
                }
                else
                {
                    node = existing;
                }
            }
        }

        return root;
    }
}
