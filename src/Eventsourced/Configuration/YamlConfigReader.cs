using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Eventsourced.Configuration;

/// <summary>Reads YAML text into a <see cref="ConfigNode"/> tree, keeping the line of every node.</summary>
internal static partial class YamlConfigReader
{
    /// <summary>The configuration is three levels deep (section, key, header); far deeper input is an attack on the reader, not a configuration.</summary>
    public const int MaxDepth = 32;

    /// <summary>YAML's own tags (<c>!!str</c> is short for <c>tag:yaml.org,2002:str</c>).</summary>
    private const string YamlTagPrefix = "tag:yaml.org,2002:";

    /// <summary>The core schema's scalar tags, each with the plain texts it takes (YAML 1.2, 10.3.2); <c>!!str</c> takes any.</summary>
    private static readonly Dictionary<string, Regex?> ScalarTags = new(StringComparer.Ordinal)
    {
        [YamlTagPrefix + "str"] = null,
        [YamlTagPrefix + "null"] = NullText(),
        [YamlTagPrefix + "bool"] = BoolText(),
        [YamlTagPrefix + "int"] = IntText(),
        [YamlTagPrefix + "float"] = FloatText(),
    };

    /// <summary>The tree of one file, or null after adding a problem when the text is not one valid YAML document.</summary>
    public static ConfigNode? Read(string path, string text, List<ConfigProblem> problems)
    {
        var scanner = new Scanner(new StringReader(text), skipComments: true);
        try
        {
            var parser = new Parser(scanner);
            var anchors = new Dictionary<string, ConfigNode>(StringComparer.Ordinal);
            var problemsBefore = problems.Count;
            parser.Consume<StreamStart>();
            ConfigNode? root = null;
            while (parser.Accept<DocumentStart>(out var start))
            {
                if (root is not null)
                {
                    problems.Add(new(ConfigLocation.InFile(path, start.Start.Line), null, "more than one YAML document; put all settings in one"));
                    return null;
                }

                parser.MoveNext();
                root = ReadNode(parser, anchors, path, 0, null, problems);
                parser.Consume<DocumentEnd>();
            }

            parser.Consume<StreamEnd>();
            // Tags are reported together (with their keys), and then the file is not used.
            return problems.Count > problemsBefore ? null : root ?? ConfigNode.Scalar(null, ConfigLocation.InFile(path, 1));
        }
        catch (YamlException ex)
        {
            var message = LocationPrefix().Replace(ex.Message, string.Empty);
            problems.Add(TabIndentation(path, text, ex, message)
                ?? new(ConfigLocation.InFile(path, ex.Start.Line), null, $"invalid YAML: {ConfigText.OneLine(message)}"));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16.3 throws this from its scanner on some broken input (an unclosed "[" before more keys).
            problems.Add(new(ConfigLocation.InFile(path, scanner.CurrentPosition.Line), null, "invalid YAML: unexpected text (an unclosed '[' or '{'?)"));
            return null;
        }
    }

    /// <summary>
    /// A tab in the indentation, reported at its own line. YamlDotNet reports it where the mapping or scalar it broke
    /// began (a line or more before, "found invalid tab as indentation"), which sent an operator to a line without one.
    /// </summary>
    private static ConfigProblem? TabIndentation(string path, string text, YamlException ex, string message)
    {
        if (!message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var lines = text.Split('\n');
        for (var i = Math.Max(0, (int)ex.Start.Line - 1); i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var content = line.TrimStart(' ', '\t');
            var indentation = line[..(line.Length - content.Length)];
            if (content.Length == 0 || content.StartsWith('#') || !indentation.Contains('\t', StringComparison.Ordinal))
            {
                continue;
            }

            var key = IndentedKey().Match(content);
            var what = key.Success ? $"'{ConfigText.OneLine(key.Groups[1].Value.Trim())}' is" : "this line is";
            return new(ConfigLocation.InFile(path, i + 1), null, $"invalid YAML: {what} indented with a tab; YAML indents with spaces only");
        }

        return null;
    }

    /// <summary>A mapping key at the start of a line (after a sequence's <c>- </c>): text up to a colon followed by a space or the end.</summary>
    [GeneratedRegex(@"^(?:-[ \t]+)?([^:#'""]+):(?:[ \t]|$)", RegexOptions.CultureInvariant)]
    private static partial Regex IndentedKey();

    /// <param name="key">The node's key as problems name it (<c>queue.expires</c>, <c>broker.node[1]</c>); null for the root.</param>
    /// <param name="isKey">The node is a mapping's key: its own text, below <paramref name="key"/>, names it (a tag on <c>expires</c> is <c>queue.expires</c>'s).</param>
    private static ConfigNode ReadNode(IParser parser, Dictionary<string, ConfigNode> anchors, string path, int depth, string? key, List<ConfigProblem> problems, bool isKey = false)
    {
        var location = ConfigLocation.InFile(path, parser.Current?.Start.Line ?? 0);
        if (depth > MaxDepth)
        {
            throw new YamlException(parser.Current!.Start, parser.Current.End, $"nested deeper than {MaxDepth} levels");
        }

        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            // A scalar's problems are the key's that uses it: at the alias's line, not the anchor's. A mapping or a
            // list keeps its entries' own lines (where the anchor wrote them).
            return !anchors.TryGetValue(alias.Value.Value, out var target)
                ? throw new YamlException(alias.Start, alias.End, $"unknown alias '*{alias.Value.Value}'")
                : target.Kind == ConfigNodeKind.Scalar ? ConfigNode.Scalar(target.Value, location) : target;
        }

        ConfigNode node;
        AnchorName anchor;
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            CheckTag(scalar.Tag, ConfigNodeKind.Scalar, scalar.Value, location, isKey ? (key is null ? scalar.Value : $"{key}.{scalar.Value}") : key, problems);
            node = ConfigNode.Scalar(IsNull(scalar) ? null : scalar.Value, location);
            anchor = scalar.Anchor;
        }
        else if (parser.TryConsume<SequenceStart>(out var sequence))
        {
            CheckTag(sequence.Tag, ConfigNodeKind.Sequence, null, location, key, problems);
            node = ConfigNode.Sequence(location);
            anchor = sequence.Anchor;
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                node.Items.Add(ReadNode(parser, anchors, path, depth + 1, $"{key}[{node.Items.Count}]", problems));
            }
        }
        else
        {
            var mapping = parser.Consume<MappingStart>();
            CheckTag(mapping.Tag, ConfigNodeKind.Mapping, null, location, key, problems);
            node = ConfigNode.Mapping(location);
            anchor = mapping.Anchor;
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var name = ReadNode(parser, anchors, path, depth + 1, key, problems, isKey: true);
                var entryKey = name is { Kind: ConfigNodeKind.Scalar, Value: { } text } ? (key is null ? text : $"{key}.{text}") : key;
                node.Entries.Add(new(name, ReadNode(parser, anchors, path, depth + 1, entryKey, problems)));
            }
        }

        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = node;
        }

        return node;
    }

    /// <summary>
    /// A value as a problem may quote it: a secret's not at all (its length only), a URL's as <c>-c</c> prints it (no
    /// password, no query values). The reader runs before the options are bound, where the other problems hide them.
    /// </summary>
    private static string Shown(string? key, string value) => ConfigSchema.Gateway.Find(key) switch
    {
        { Mask: MaskKind.Secret } => ConfigText.HiddenSecret(value),
        { Mask: not null } secret => $"'{ConfigText.OneLine(ConfigPrinter.Show(secret, value))}'",
        _ => $"'{ConfigText.OneLine(value)}'",
    };

    /// <summary>
    /// A tag other than the core schema's (<c>!!str</c>, <c>!!int</c>, <c>!!float</c>, <c>!!bool</c>, <c>!!null</c> on a
    /// value, <c>!!seq</c> on a list, <c>!!map</c> on a mapping, and the non-specific <c>!</c>) names a type of some
    /// application's (<c>!foo</c>, <c>!!python/object</c>, <c>!&lt;tag:example.com,2000:x&gt;</c>) that the gateway would
    /// otherwise read as plain text; a core tag on a text it does not take (<c>!!int abc</c>) is as wrong.
    /// </summary>
    private static void CheckTag(TagName tag, ConfigNodeKind kind, string? value, ConfigLocation location, string? key, List<ConfigProblem> problems)
    {
        if (tag.IsEmpty || tag.IsNonSpecific)
        {
            return;
        }

        var name = tag.Value.StartsWith(YamlTagPrefix, StringComparison.Ordinal) ? "!!" + tag.Value[YamlTagPrefix.Length..]
            : tag.Value.StartsWith('!') ? tag.Value
            : $"!<{tag.Value}>";
        var fits = kind switch
        {
            ConfigNodeKind.Scalar => ScalarTags.TryGetValue(tag.Value, out var text) ? text is null || text.IsMatch(value ?? string.Empty) : (bool?)null,
            ConfigNodeKind.Sequence => tag.Value == YamlTagPrefix + "seq" ? true : null,
            _ => tag.Value == YamlTagPrefix + "map" ? true : null,
        };
        if (fits is null)
        {
            var known = ScalarTags.ContainsKey(tag.Value) || tag.Value is YamlTagPrefix + "seq" or YamlTagPrefix + "map";
            problems.Add(new(location, key, known
                ? $"YAML tag '{name}' does not fit a {(kind == ConfigNodeKind.Scalar ? "single value" : kind == ConfigNodeKind.Sequence ? "list" : "mapping")}"
                : $"unknown YAML tag '{ConfigText.OneLine(name)}': only the core schema's tags (!!str, !!int, !!float, !!bool, !!null, !!seq, !!map) are taken; leave the tag out"));
        }
        else if (fits is false)
        {
            problems.Add(new(location, key, $"{Shown(key, value ?? string.Empty)} is not a {name}"));
        }
    }

    private static bool IsNull(Scalar scalar) =>
        scalar.Style == ScalarStyle.Plain && (scalar.Tag.IsEmpty || scalar.Tag.Value == YamlTagPrefix + "null") && NullText().IsMatch(scalar.Value);

    [GeneratedRegex("^(|~|null|Null|NULL)$")]
    private static partial Regex NullText();

    [GeneratedRegex("^(true|True|TRUE|false|False|FALSE)$")]
    private static partial Regex BoolText();

    [GeneratedRegex("^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")]
    private static partial Regex IntText();

    [GeneratedRegex(@"^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN)$")]
    private static partial Regex FloatText();

    /// <summary>YamlDotNet puts "(Line: 3, Col: 5, Idx: 20) - (Line: ...): " before some messages; the problem line has its own.</summary>
    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex LocationPrefix();
}
