using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Eventsourced.Configuration;

/// <summary>Reads YAML text into a <see cref="ConfigNode"/> tree, keeping the line of every node.</summary>
internal static partial class YamlConfigReader
{
    /// <summary>The configuration is three levels deep (section, key, header); far deeper input is an attack on the reader, not a configuration.</summary>
    public const int MaxDepth = 32;

    /// <summary>The tree of one file, or null after adding a problem when the text is not one valid YAML document.</summary>
    public static ConfigNode? Read(string path, string text, List<ConfigProblem> problems)
    {
        var scanner = new Scanner(new StringReader(text), skipComments: true);
        try
        {
            var parser = new Parser(scanner);
            var anchors = new Dictionary<string, ConfigNode>(StringComparer.Ordinal);
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
                root = ReadNode(parser, anchors, path, 0);
                parser.Consume<DocumentEnd>();
            }

            parser.Consume<StreamEnd>();
            return root ?? ConfigNode.Scalar(null, ConfigLocation.InFile(path, 1));
        }
        catch (YamlException ex)
        {
            var message = LocationPrefix().Replace(ex.Message, string.Empty);
            problems.Add(new(ConfigLocation.InFile(path, ex.Start.Line), null, $"invalid YAML: {ConfigText.OneLine(message)}"));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16.3 throws this from its scanner on some broken input (an unclosed "[" before more keys).
            problems.Add(new(ConfigLocation.InFile(path, scanner.CurrentPosition.Line), null, "invalid YAML: unexpected text (an unclosed '[' or '{'?)"));
            return null;
        }
    }

    private static ConfigNode ReadNode(IParser parser, Dictionary<string, ConfigNode> anchors, string path, int depth)
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
            node = ConfigNode.Scalar(IsNull(scalar) ? null : scalar.Value, location);
            anchor = scalar.Anchor;
        }
        else if (parser.TryConsume<SequenceStart>(out var sequence))
        {
            node = ConfigNode.Sequence(location);
            anchor = sequence.Anchor;
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                node.Items.Add(ReadNode(parser, anchors, path, depth + 1));
            }
        }
        else
        {
            var mapping = parser.Consume<MappingStart>();
            node = ConfigNode.Mapping(location);
            anchor = mapping.Anchor;
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var key = ReadNode(parser, anchors, path, depth + 1);
                node.Entries.Add(new(key, ReadNode(parser, anchors, path, depth + 1)));
            }
        }

        if (!anchor.IsEmpty)
        {
            anchors[anchor.Value] = node;
        }

        return node;
    }

    private static bool IsNull(Scalar scalar) =>
        scalar.Style == ScalarStyle.Plain && scalar.Value is "" or "~" or "null" or "Null" or "NULL";

    /// <summary>YamlDotNet puts "(Line: 3, Col: 5, Idx: 20) - (Line: ...): " before some messages; the problem line has its own.</summary>
    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex LocationPrefix();
}
