namespace Eventsourced.Configuration;

/// <summary>
/// Applies one source's <see cref="ConfigNode"/> tree to <see cref="GatewayOptions"/>, checking every value
/// against the key table and adding a <see cref="ConfigProblem"/> for each fault instead of stopping.
/// Names match exactly in files (keys are snake_case) and ignoring case in the environment.
/// Values are in <c>ConfigBinder.Values.cs</c>.
/// </summary>
internal sealed partial class ConfigBinder(GatewayOptions options, IReadOnlyList<ConfigKey> keys, List<ConfigProblem> problems)
{
    private readonly string[] sections = keys.Select(k => k.Section).Distinct(StringComparer.Ordinal).ToArray();

    public void Bind(ConfigNode root)
    {
        if (root.IsNull)
        {
            return;
        }

        if (root.Kind != ConfigNodeKind.Mapping)
        {
            Report(root.Location, null, $"expected a mapping of sections ({string.Join(", ", sections)}), got a {root.Describe()}");
            return;
        }

        var comparer = root.Location.IsEnvironment ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
        var seen = new Dictionary<string, ConfigLocation>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in root.Entries)
        {
            if (!TryName(keyNode, null, out var name))
            {
                continue;
            }

            var section = sections.FirstOrDefault(s => comparer.Equals(s, name));
            if (section is null)
            {
                Report(keyNode.Location, name, $"unknown section (known: {string.Join(", ", sections)}){Hint(name, sections)}");
            }
            else if (!seen.TryAdd(section, keyNode.Location))
            {
                Report(keyNode.Location, section, $"duplicate section (first at {seen[section].Reference})");
            }
            else if (value.Kind == ConfigNodeKind.Mapping)
            {
                BindSection(section, value, comparer);
            }
            else if (!value.IsNull)
            {
                Report(value.Location, section, $"expected a mapping of keys, got a {value.Describe()}");
            }
        }
    }

    private void BindSection(string section, ConfigNode mapping, StringComparer comparer)
    {
        var inSection = keys.Where(k => k.Section == section).ToArray();
        var spellings = inSection.SelectMany(k => k.Aliases.Prepend(k.Name).Select(s => (Key: k, Spelling: s))).ToArray();
        var seen = new Dictionary<ConfigKey, (string Spelling, ConfigLocation Where)>();
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (!TryName(keyNode, section, out var name))
            {
                continue;
            }

            var match = spellings.FirstOrDefault(s => comparer.Equals(s.Spelling, name));
            if (match.Key is null)
            {
                var known = inSection.Select(k => k.Name).ToArray();
                Report(keyNode.Location, $"{section}.{name}", $"unknown key (known: {string.Join(", ", known)}){Hint(name, known)}");
                continue;
            }

            var display = $"{section}.{match.Spelling}";
            if (seen.TryGetValue(match.Key, out var first))
            {
                Report(keyNode.Location, display, first.Spelling == match.Spelling
                    ? $"duplicate key (first at {first.Where.Reference})"
                    : $"conflicts with {section}.{first.Spelling} ({first.Where.Reference}); give only one of them");
                continue;
            }

            seen.Add(match.Key, (match.Spelling, keyNode.Location));
            BindValue(match.Key, display, value);
        }
    }

    private bool TryName(ConfigNode keyNode, string? parent, out string name)
    {
        name = keyNode.Value ?? string.Empty;
        if (keyNode.Kind == ConfigNodeKind.Scalar && keyNode.Value is not null)
        {
            return true;
        }

        Report(keyNode.Location, parent, $"keys must be plain names, got a {(keyNode.IsNull ? "null" : keyNode.Describe())}");
        return false;
    }

    /// <summary>Files match names exactly; point out a name that differs only in case.</summary>
    private static string Hint(string name, IEnumerable<string> known) =>
        known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } match
            ? $"; did you mean '{match}'?"
            : string.Empty;

    private void Report(ConfigLocation where, string? key, string message) => problems.Add(new(where, key, message));
}
