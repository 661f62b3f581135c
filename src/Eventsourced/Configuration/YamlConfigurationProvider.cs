using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>A YAML file as a configuration source: <c>builder.Configuration.Add(new YamlConfigurationSource { Path = ... })</c>.</summary>
public sealed class YamlConfigurationSource : IConfigurationSource
{
    public required string Path { get; init; }

    /// <summary>A missing optional file is an empty source; a missing required one is a problem.</summary>
    public bool Optional { get; init; }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlConfigurationProvider(this);
}

/// <summary>
/// Reads one YAML file with YamlDotNet into configuration keys (<c>section:key</c>, list items as
/// <c>section:key:0</c>, ...), keeping the file and line of every node (<see cref="Tree"/>) so that a
/// problem found later names them. Null values set nothing; an empty list is the key with an empty value.
/// Used on its own (standard layering), it throws a <see cref="ConfigException"/> for a broken file;
/// <see cref="ConfigLoader"/> collects <see cref="Problems"/> instead and layers the trees itself.
/// </summary>
internal sealed class YamlConfigurationProvider(YamlConfigurationSource source) : ConfigurationProvider
{
    public string Path => source.Path;

    /// <summary>The file's content with lines, or null when it was missing, unreadable or not valid YAML.</summary>
    public ConfigNode? Tree { get; private set; }

    /// <summary>True once the file was read (it existed and could be opened).</summary>
    public bool WasRead { get; private set; }

    public IReadOnlyList<ConfigProblem> Problems { get; private set; } = [];

    /// <summary>Set by <see cref="ConfigLoader"/>, which reports <see cref="Problems"/> with those of every other source.</summary>
    public bool CollectProblems { get; init; }

    public override void Load()
    {
        var problems = new List<ConfigProblem>();
        Tree = Read(problems);
        Problems = problems;
        Data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (Tree is not null && !Flatten(Tree, null, new int[1]))
        {
            problems.Add(new(ConfigLocation.InFile(Path, 0), null, $"more than {MaxKeys} keys (aliases expanding into each other?)"));
            Data.Clear();
        }

        if (problems.Count > 0 && !CollectProblems)
        {
            throw new ConfigException(problems);
        }
    }

    private ConfigNode? Read(List<ConfigProblem> problems)
    {
        if (!File.Exists(Path))
        {
            if (!source.Optional || Directory.Exists(Path))
            {
                problems.Add(new(ConfigLocation.InFile(Path, 0), null, Directory.Exists(Path) ? "is a directory, not a file" : "file not found"));
            }

            return null;
        }

        byte[] bytes;
        try
        {
            bytes = ConfigFiles.ReadAtMost(Path, "a configuration file");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add(new(ConfigLocation.InFile(Path, 0), null, $"cannot read: {ConfigText.OneLine(ex.Message)}"));
            return null;
        }

        WasRead = true;
        if (Decode(bytes) is not { } text)
        {
            problems.Add(new(ConfigLocation.InFile(Path, InvalidUtf8Line(bytes)), null, "not UTF-8 text (save the file as UTF-8)"));
            return null;
        }

        return YamlConfigReader.Read(Path, text, problems);
    }

    /// <summary>The text of a UTF-8 file (a byte order mark dropped; UTF-16 and UTF-32 by their marks), or null when a byte sequence is not UTF-8.</summary>
    private static string? Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
        try
        {
            return reader.ReadToEnd();
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The line of the first byte sequence that is not UTF-8.</summary>
    private static long InvalidUtf8Line(byte[] bytes)
    {
        var span = bytes.AsSpan();
        var line = 1L;
        while (!span.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(span, out var rune, out var consumed) != OperationStatus.Done)
            {
                return line;
            }

            line += rune.Value == '\n' ? 1 : 0;
            span = span[consumed..];
        }

        return line;
    }

    /// <summary>Aliases can make a small file stand for an enormous tree; no configuration has this many keys.</summary>
    private const int MaxKeys = 100_000;

    /// <summary>False when the file holds more than <see cref="MaxKeys"/> keys.</summary>
    private bool Flatten(ConfigNode node, string? path, int[] count)
    {
        if (++count[0] > MaxKeys)
        {
            return false;
        }

        switch (node.Kind)
        {
            case ConfigNodeKind.Scalar when node.Value is not null && path is not null:
                Data[path] = node.Value;
                break;
            case ConfigNodeKind.Sequence when node.Items.Count == 0 && path is not null:
                Data[path] = string.Empty;
                break;
            case ConfigNodeKind.Sequence:
                for (var i = 0; i < node.Items.Count; i++)
                {
                    if (!Flatten(node.Items[i], ConfigurationPath.Combine(path ?? string.Empty, i.ToString(CultureInfo.InvariantCulture)), count))
                    {
                        return false;
                    }
                }

                break;
            case ConfigNodeKind.Mapping:
                foreach (var (key, value) in node.Entries)
                {
                    if (key.Value is { } name && !Flatten(value, path is null ? name : ConfigurationPath.Combine(path, name), count))
                    {
                        return false;
                    }
                }

                break;
        }

        return true;
    }
}
