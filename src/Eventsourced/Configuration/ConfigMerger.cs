using System.Globalization;
using System.Text.RegularExpressions;

namespace Eventsourced.Configuration;

/// <summary>
/// Layers configuration sources the way the README documents, which no standard provider does: scalars
/// of a later source replace earlier ones, a null value (<c>key:</c> with nothing, <c>~</c>) leaves the
/// earlier value, a list is replaced as a whole, a map is merged entry by entry (an empty value removes the
/// entry, and so does a null one of a header map; another map's null entry leaves the earlier value), and an alias (<c>queue.expire</c>) sets its key. It checks the shape of every key
/// (unknown sections and keys, a list where a value belongs, a value that is not a number...) and
/// collects a <see cref="ConfigProblem"/> for each fault instead of stopping. Names match exactly in files
/// (keys are snake_case) and ignoring case elsewhere (environment variables, an application's
/// configuration). The result is plain configuration keys, each with the place it came from, for the
/// standard binder; values are checked after binding (<see cref="OptionsChecker"/>).
/// </summary>
internal sealed partial class ConfigMerger(ConfigSchema schema, List<ConfigProblem> problems)
{
    private readonly string[] _sections = schema.Sections.Select(s => s.Name).ToArray();

    /// <summary>The merged keys (<c>section:key</c>, <c>section:list:0</c>, <c>section:map:Name</c>), in the order first set.</summary>
    public OrderedDictionary<string, (string Value, ConfigLocation Where)> Data { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>List items whose index in their source differs from their place in the merged list (see <see cref="ConfigOrigins.Label"/>).</summary>
    public Dictionary<string, string> Labels { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Where each merged key came from.</summary>
    public ConfigOrigins Origins => new(Data.ToDictionary(e => e.Key, e => e.Value.Where, StringComparer.OrdinalIgnoreCase), Labels);

    /// <summary>Layers one source over those merged before it.</summary>
    public void Merge(ConfigNode root)
    {
        if (root.IsNull)
        {
            return;
        }

        if (root.Kind != ConfigNodeKind.Mapping)
        {
            Report(root.Location, null, $"expected a mapping of sections ({string.Join(", ", _sections)}), got a {root.Describe()}");
            return;
        }

        var comparer = Comparer(root);
        var seen = new Dictionary<string, ConfigLocation>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in root.Entries)
        {
            if (!TryName(keyNode, null, out var name))
            {
                continue;
            }

            var section = schema.Sections.FirstOrDefault(s => comparer.Equals(s.Name, name));
            if (section is null)
            {
                Report(keyNode.Location, Shown(name), $"unknown section (known: {string.Join(", ", _sections)}){Hint(name, _sections)}");
            }
            else if (!seen.TryAdd(section.Name, keyNode.Location))
            {
                Report(keyNode.Location, section.Name, $"duplicate section (first at {seen[section.Name].Reference})");
            }
            else if (value.Kind == ConfigNodeKind.Mapping)
            {
                MergeSection(section, value, comparer);
            }
            else if (!value.IsNull)
            {
                Report(value.Location, section.Name, $"expected a mapping of keys, got a {value.Describe()}");
            }
        }
    }

    private void MergeSection(SchemaSection section, ConfigNode mapping, StringComparer comparer)
    {
        var spellings = section.Keys.SelectMany(k => k.Aliases.Prepend(k.Name).Select(s => (Key: k, Spelling: s))).ToArray();
        var seen = new Dictionary<SchemaKey, (string Spelling, ConfigLocation Where)>();
        var seenSubsections = new Dictionary<SchemaSection, ConfigLocation>();
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (!TryName(keyNode, section.Path, out var name))
            {
                continue;
            }

            if (section.Subsections.FirstOrDefault(s => comparer.Equals(s.Name, name)) is { } subsection)
            {
                if (!seenSubsections.TryAdd(subsection, keyNode.Location))
                {
                    Report(keyNode.Location, subsection.Path, $"duplicate section (first at {seenSubsections[subsection].Reference})");
                }
                else if (value.Kind == ConfigNodeKind.Mapping)
                {
                    MergeSection(subsection, value, comparer);
                }
                else if (!value.IsNull)
                {
                    Report(value.Location, subsection.Path, $"expected a mapping of keys, got a {value.Describe()}");
                }

                continue;
            }

            var match = spellings.FirstOrDefault(s => comparer.Equals(s.Spelling, name));
            if (match.Key is null)
            {
                var known = section.Keys.Select(k => k.Name).Concat(section.Subsections.Select(s => s.Name)).ToArray();
                Report(keyNode.Location, $"{section.Path}.{Shown(name)}", $"unknown key (known: {string.Join(", ", known)}){Hint(name, known)}");
                continue;
            }

            var display = $"{section.Path}.{match.Spelling}";
            if (seen.TryGetValue(match.Key, out var first))
            {
                Report(keyNode.Location, display, first.Spelling == match.Spelling
                    ? $"duplicate key (first at {first.Where.Reference})"
                    : $"conflicts with {section.Path}.{first.Spelling} ({first.Where.Reference}); give only one of them");
                continue;
            }

            seen.Add(match.Key, (match.Spelling, keyNode.Location));
            MergeValue(match.Key, display, value);
        }
    }

    private void MergeValue(SchemaKey key, string display, ConfigNode value)
    {
        if (value.IsNull)
        {
            return; // "key:" with nothing after it (or ~, null) leaves the earlier layer's value
        }

        switch (key.Kind)
        {
            case KeyKind.List:
                MergeList(key, display, value);
                return;
            case KeyKind.Map:
                MergeMap(key, display, value);
                return;
        }

        if (value.Kind != ConfigNodeKind.Scalar)
        {
            Report(value.Location, display, $"expected a single value, got a {value.Describe()}");
            return;
        }

        var text = value.Value!;
        var problem = key.Kind switch
        {
            KeyKind.Number => Integer(text, key, out text),
            KeyKind.Flag => Flag(text, out text),
            KeyKind.Choice => Choice(text, key, out text),
            _ => null,
        };
        if (problem is not null)
        {
            Report(value.Location, display, problem);
        }
        else if (text.Length == 0 && ClearedSecret(key, value.Location) is { } earlier)
        {
            ReportClearedSecret(value.Location, display, earlier);
        }
        else
        {
            Data[key.ConfigurationKey] = (text, value.Location);
        }
    }

    /// <summary>
    /// Where an earlier source gave the secret <paramref name="key"/> a value that an empty environment variable at
    /// <paramref name="where"/> would clear; null when it would not. An empty variable otherwise sets its key to empty,
    /// as documented; for a secret that turns off what it protects (tokens, the metrics token): an unset variable passed
    /// through (Compose's <c>${JWT_SECRET}</c>, a secret missing from the deployment) opened the gateway to everyone.
    /// </summary>
    private ConfigLocation? ClearedSecret(SchemaKey key, ConfigLocation where)
    {
        if (key.Mask is null || where.Kind != ConfigSourceKind.Environment)
        {
            return null;
        }

        foreach (var (name, (text, from)) in Data)
        {
            if (text.Length > 0 && IsEntryOf(name, key))
            {
                return from;
            }
        }

        return null;
    }

    /// <summary>Whether the merged key <paramref name="name"/> is <paramref name="key"/>'s own or one of its list items (<c>section:key:0</c>).</summary>
    private static bool IsEntryOf(string name, SchemaKey key) => IsEntryOf(name, key.ConfigurationKey);

    /// <summary>Whether the configuration key <paramref name="name"/> is <paramref name="key"/> or one under it (<c>section:key:0</c>).</summary>
    internal static bool IsEntryOf(string name, string key) =>
        name.StartsWith(key, StringComparison.OrdinalIgnoreCase) && (name.Length == key.Length || name[key.Length] == ':');

    private void ReportClearedSecret(ConfigLocation where, string display, ConfigLocation earlier) =>
        Report(where, display, $"is empty, which would clear the secret given at {earlier} and turn off what it protects (a variable "
            + "passed on unset?); give the value, or leave the variable out (to turn it off, remove it from where it is given)");

    private void MergeList(SchemaKey key, string display, ConfigNode value)
    {
        var before = problems.Count;
        var items = ListItems(display, value, key.Mask == MaskKind.BrokerUrl ? BrokerUrlSeparator() : key.AlgorithmEntries ? AlgorithmEntrySeparator() : null);
        if (items is null || problems.Count > before)
        {
            return;
        }

        if (items.Count == 0 && !key.MayBeEmpty)
        {
            Report(value.Location, display, "must list at least one value");
            return;
        }

        if (items.Count == 0 && ClearedSecret(key, value.Location) is { } earlier)
        {
            ReportClearedSecret(value.Location, display, earlier);
            return;
        }

        foreach (var (index, node, _) in items)
        {
            if (node.Kind != ConfigNodeKind.Scalar)
            {
                Report(node.Location, $"{display}[{index}]", $"expected a single value, got a {node.Describe()}");
            }
        }

        if (problems.Count > before)
        {
            return;
        }

        // Replaced as a whole: nothing of an earlier source's list survives.
        var prefix = key.ConfigurationKey + ":";
        foreach (var old in Data.Keys.Where(k => IsEntryOf(k, key)).ToArray())
        {
            Data.Remove(old);
        }

        if (items.Count == 0)
        {
            Data[key.ConfigurationKey] = (string.Empty, value.Location); // an empty list, on purpose
        }

        for (var i = 0; i < items.Count; i++)
        {
            var itemKey = prefix + i.ToString(CultureInfo.InvariantCulture);
            Data[itemKey] = (items[i].Text ?? string.Empty, items[i].Node.Location);
            if (items[i].Index != i)
            {
                Labels[itemKey] = items[i].Index.ToString(CultureInfo.InvariantCulture);
            }
            else
            {
                Labels.Remove(itemKey);
            }
        }
    }

    /// <summary>A YAML list; elsewhere also <c>url1,url2</c> or the entries <c>0</c>, <c>1</c>, ... (in index order).</summary>
    /// <param name="separator">Where <c>url1,url2</c> is split; null: at every comma.</param>
    private List<(int Index, ConfigNode Node, string? Text)>? ListItems(string display, ConfigNode value, Regex? separator = null)
    {
        if (value.Kind == ConfigNodeKind.Sequence)
        {
            return value.Items.Select((item, i) => (i, item, item.Value)).ToList();
        }

        if (!value.Location.IsFile && value.Kind == ConfigNodeKind.Scalar)
        {
            var text = value.Value!;
            var parts = separator is null ? text.Split(',') : separator.Split(text);
            return text.Trim().Length == 0 ? [] : parts.Select((t, i) => (i, value, (string?)t.Trim())).ToList();
        }

        if (value.Location.IsFile)
        {
            Report(value.Location, display, $"expected a list, got a {value.Describe()}");
            return null;
        }

        var items = new List<(int Index, ConfigNode Node, string? Text)>();
        var before = problems.Count;
        foreach (var (indexNode, item) in value.Entries)
        {
            if (!int.TryParse(indexNode.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                Report(indexNode.Location, display, $"list index must be a number, got {ConfigText.Quote(indexNode.Value ?? string.Empty)}");
            }
            else if (items.Find(i => i.Index == index) is { Node: { } first })
            {
                Report(indexNode.Location, $"{display}[{index}]", $"also set by {first.Location.Source}; give only one of them");
            }
            else
            {
                items.Add((index, item, item.Value));
            }
        }

        items.Sort((a, b) => a.Index.CompareTo(b.Index));
        if (problems.Count == before && items is [{ Index: > 0 } lowest, ..])
        {
            // A list from variables replaces an earlier source's whole list (its entries then go in index order, gaps
            // allowed): EVENTSOURCED_BROKER__NODE__1 alone, meant to change the file's second node, left one node and
            // dropped the file's first without a word.
            Report(lowest.Node.Location, $"{display}[{lowest.Index}]", "has no entry 0: a list given by index replaces the whole list of earlier sources, so give it from entry 0");
            return null;
        }

        return items;
    }

    private void MergeMap(SchemaKey key, string display, ConfigNode value)
    {
        if (value.Kind != ConfigNodeKind.Mapping)
        {
            Report(value.Location, display, $"expected a mapping of {MapEntries(key)}, got a {value.Describe()}");
            return;
        }

        var seen = new Dictionary<string, ConfigLocation>(StringComparer.OrdinalIgnoreCase);
        foreach (var (nameNode, entry) in value.Entries)
        {
            if (!TryName(nameNode, display, out var name))
            {
                continue;
            }

            var where = $"{display}.{name}";
            if (!seen.TryAdd(name, nameNode.Location))
            {
                Report(nameNode.Location, where, $"duplicate {MapEntry(key)} (first at {seen[name].Reference})");
                continue;
            }

            string? text;
            if (entry.IsNull && MapEntry(key) != "header")
            {
                // "kind:" with nothing after it (or ~) leaves the earlier value, as for every other key. Taken for '',
                // auth.read_claims.queue: checked nothing, and every valid token read every queue.
                continue;
            }

            if (entry.Kind == ConfigNodeKind.Scalar)
            {
                text = entry.Value;
            }
            else if (MapEntry(key) == "header" && (entry.Kind == ConfigNodeKind.Sequence || !entry.Location.IsFile))
            {
                // A header's values as a list: one field value, joined with commas as HTTP joins a header's lines.
                // A YAML list, or elsewhere the entries 0, 1, ... of the same list (EVENTSOURCED_HEADER__CORS__NAME__0,
                // an appsettings.json array), so that every source gives the same value.
                if (HeaderListText(where, entry) is not { } joined)
                {
                    continue;
                }

                text = joined;
            }
            else
            {
                Report(entry.Location, where, $"expected a single value, got a {entry.Describe()}");
                continue;
            }

            // An entry keeps its place; given in another case, it takes the later source's spelling.
            // An empty (or null) value stays as the mark that removes the entry.
            var mapKey = $"{key.ConfigurationKey}:{name}";
            var index = Data.IndexOf(mapKey);
            var stored = (text?.Trim() ?? string.Empty, entry.Location);
            if (index >= 0)
            {
                Data.SetAt(index, mapKey, stored);
            }
            else
            {
                Data[mapKey] = stored;
            }
        }
    }

    /// <summary>A header's list of values (see <see cref="ListItems"/>) as one value joined with <c>, </c>; null after reporting a problem.</summary>
    private string? HeaderListText(string where, ConfigNode entry)
    {
        var before = problems.Count;
        var items = ListItems(where, entry);
        if (items is null || problems.Count > before)
        {
            return null;
        }

        if (items.Find(i => i.Node.Kind != ConfigNodeKind.Scalar) is { Node: { } nested })
        {
            Report(nested.Location, where, $"a header's list holds single values, got a {nested.Describe()}");
            return null;
        }

        return string.Join(", ", items.Select(i => i.Text?.Trim()).Where(v => !string.IsNullOrEmpty(v)));
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

    /// <summary>A whole number; one outside what an int holds is reported with the key's bounds (checked for all values after binding).</summary>
    private static string? Integer(string text, SchemaKey key, out string normalized)
    {
        normalized = text.Trim();
        var digits = normalized.StartsWith('-') || normalized.StartsWith('+') ? normalized[1..] : normalized;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
        {
            return $"expected a whole number, got {ConfigText.Quote(text)}";
        }

        return int.TryParse(normalized, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)
            ? null
            : $"must be from {key.Min} to {key.Max}, got {normalized}";
    }

    private static string? Flag(string text, out string normalized)
    {
        normalized = text.Trim().ToLowerInvariant();
        return normalized is "true" or "false" ? null : $"expected true or false, got {ConfigText.Quote(text)}";
    }

    /// <summary>Stored as listed when it matches ignoring case; anything else is reported after binding.</summary>
    private static string? Choice(string text, SchemaKey key, out string normalized)
    {
        normalized = key.Choices.FirstOrDefault(c => c.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase)) ?? text;
        return null;
    }

    private static StringComparer Comparer(ConfigNode root) => root.Location.IsFile ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    /// <summary>
    /// An unknown name as a problem quotes it: as it is when it could be a misspelt setting (a short run of letters,
    /// digits, <c>_</c> and <c>-</c>), its length only otherwise. A secret pasted a line too high, or a file that is not a
    /// configuration at all (<c>--config /etc/shadow</c>: YAML reads each <c>user:hash:...:</c> line as a key), would
    /// otherwise be printed to the console and the log.
    /// </summary>
    internal static string Shown(string name) =>
        name == MergeKey || name.Length is > 0 and <= MaxShownName && char.IsAsciiLetter(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? name
            : $"<{name.Length.ToString(CultureInfo.InvariantCulture)} characters, not shown>";

    /// <summary>Longer than any setting's name (the longest is 24 characters), shorter than a generated secret.</summary>
    private const int MaxShownName = 32;

    /// <summary>Files match names exactly; point out a name that differs only in case.</summary>
    private static string Hint(string name, IEnumerable<string> known) =>
        name == MergeKey ? "; YAML's merge key (<<: *anchor) is not supported: write the keys out (an alias, *anchor, works for a single value)"
        : known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } match
            ? $"; did you mean '{match}'?"
            : string.Empty;

    /// <summary>YAML 1.1's merge key, which YamlDotNet's parser reads as a plain key named <c>&lt;&lt;</c>.</summary>
    private const string MergeKey = "<<";

    private static string MapEntries(SchemaKey key) => $"{MapEntry(key)} names to values";

    private static string MapEntry(SchemaKey key) => key.MapRules?.Entry ?? "entry";

    private void Report(ConfigLocation where, string? key, string message) => problems.Add(new(where, key, message));

    /// <summary>
    /// Between two broker URLs in one variable (<c>amqp://a/,amqps://b/</c>): a comma followed by a scheme (or by another
    /// comma or the end: an empty entry, reported as such). A comma is allowed as it is in a URL's password
    /// (<c>amqp://user:pa,ss@host/</c>); split there, the URL did not work, and the half before it was quoted in the
    /// problem as a port (<c>got 'pa'</c>), a piece of the password in the log.
    /// </summary>
    [GeneratedRegex(@",(?=\s*(?:amqps?://|,|$))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex BrokerUrlSeparator();

    /// <summary>
    /// Between two <c>ALGORITHM:VALUE</c> entries in one variable (<c>HS256:s1,HS512:s2</c>): a comma followed by an
    /// algorithm (or by another comma or the end). Split at every comma, a secret with one in it was cut in two: the
    /// variable refused for a too short secret and an entry without algorithm, or a secret that verified no token.
    /// </summary>
    [GeneratedRegex(@",(?=\s*(?:HS(?:256|384|512):|,|$))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AlgorithmEntrySeparator();
}
