using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Eventsourced.Configuration;

/// <summary>
/// Prints the effective configuration (<c>eventsourced -c</c>) as YAML that <see cref="ConfigLoader"/> reads
/// back: every key of <see cref="ConfigSchema.Keys"/> in the original's layout, broker passwords masked
/// (so a reloaded dump has <c>***</c> for a password and nothing else differs).
/// </summary>
public static class ConfigPrinter
{
    public static string ToYaml(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        var emitter = new Emitter(writer, EmitterSettings.Default.WithBestIndent(2).WithBestWidth(int.MaxValue).WithIndentedSequences().WithNewLine("\n"));
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart());
        emitter.Emit(new MappingStart());
        foreach (var section in ConfigSchema.Keys.GroupBy(k => k.Section))
        {
            emitter.Emit(Text(section.Key));
            emitter.Emit(new MappingStart());
            foreach (var key in section)
            {
                emitter.Emit(Text(key.Name));
                EmitValue(emitter, key, options);
            }

            emitter.Emit(new MappingEnd());
        }

        emitter.Emit(new MappingEnd());
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void EmitValue(IEmitter emitter, ConfigKey key, GatewayOptions options)
    {
        switch (key)
        {
            case ScalarKey scalar:
                emitter.Emit(Text(scalar.Get(options)));
                break;
            case ListKey list:
                var items = list.Show(options).ToArray();
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, items.Length == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                Array.ForEach(items, item => emitter.Emit(Text(item)));
                emitter.Emit(new SequenceEnd());
                break;
            case HeaderMapKey headers:
                // Maps merge over the defaults, so a removed default header is printed with an empty value.
                var map = headers.Map(options);
                var removed = headers.Map(new GatewayOptions()).Keys.Where(name => !map.ContainsKey(name)).ToArray();
                var style = map.Count + removed.Length == 0 ? MappingStyle.Flow : MappingStyle.Block;
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, style));
                foreach (var (name, value) in map.Concat(removed.Select(name => KeyValuePair.Create(name, string.Empty))))
                {
                    emitter.Emit(Text(name));
                    emitter.Emit(Text(value));
                }

                emitter.Emit(new MappingEnd());
                break;
        }
    }

    /// <summary>A scalar; the emitter quotes it when plain YAML would misread it, and so do we for what reads as null.</summary>
    private static Scalar Text(string value)
    {
        var style = value is "" or "~" || value.Equals("null", StringComparison.OrdinalIgnoreCase) ? ScalarStyle.SingleQuoted : ScalarStyle.Any;
        return new Scalar(AnchorName.Empty, TagName.Empty, value, style, true, true);
    }
}
