using System.Globalization;
using Eventsourced.Broker;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Eventsourced.Configuration;

/// <summary>
/// Prints the effective configuration (<c>eventsourced -c</c>) as YAML that <see cref="ConfigLoader"/> reads
/// back: every key of <see cref="ConfigSchema"/> in the original's layout, secrets and broker passwords
/// masked (so a reloaded dump has <c>***</c> for those and nothing else differs).
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
        var defaults = new GatewayOptions();
        foreach (var section in ConfigSchema.Gateway.Sections)
        {
            EmitSection(emitter, section, options, defaults);
        }

        emitter.Emit(new MappingEnd());
        emitter.Emit(new DocumentEnd(isImplicit: true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    private static void EmitSection(IEmitter emitter, SchemaSection section, GatewayOptions options, GatewayOptions defaults)
    {
        emitter.Emit(Text(section.Name));
        emitter.Emit(new MappingStart());
        foreach (var key in section.Keys)
        {
            emitter.Emit(Text(key.Name));
            EmitValue(emitter, key, key.Get(section.Get(options)), key.Get(section.Get(defaults)));
        }

        foreach (var subsection in section.Subsections)
        {
            EmitSection(emitter, subsection, options, defaults);
        }

        emitter.Emit(new MappingEnd());
    }

    private static void EmitValue(IEmitter emitter, SchemaKey key, object? value, object? defaultValue)
    {
        switch (value)
        {
            case List<string> items:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, items.Count == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                items.ForEach(item => emitter.Emit(Text(Show(key, item))));
                emitter.Emit(new SequenceEnd());
                break;
            case Dictionary<string, string> map:
                // Maps merge over the defaults, so a removed default entry is printed with an empty value.
                var removed = ((Dictionary<string, string>)defaultValue!).Keys.Where(name => !map.ContainsKey(name)).ToArray();
                var style = map.Count + removed.Length == 0 ? MappingStyle.Flow : MappingStyle.Block;
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, style));
                foreach (var (name, text) in map.Concat(removed.Select(name => KeyValuePair.Create(name, string.Empty))))
                {
                    emitter.Emit(Text(name));
                    emitter.Emit(Text(Show(key, text)));
                }

                emitter.Emit(new MappingEnd());
                break;
            case bool flag:
                emitter.Emit(Text(flag ? "true" : "false"));
                break;
            default:
                emitter.Emit(Text(Show(key, Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty)));
                break;
        }
    }

    /// <summary>A value as <c>-c</c> may show it.</summary>
    internal static string Show(SchemaKey key, string value) => key.Mask switch
    {
        MaskKind.Secret => HideSecret(key, value),
        MaskKind.BrokerUrl => BrokerUrl.Mask(value),
        MaskKind.Url => SecretUrl.Mask(value),
        _ => value,
    };

    /// <summary>A secret as <c>-c</c> shows it: <c>***</c>; an <c>ALGORITHM:SECRET</c> entry (<c>auth.jwt.secrets</c>) keeps its algorithm, which says which is which.</summary>
    private static string HideSecret(SchemaKey key, string value)
    {
        if (value.Length == 0)
        {
            return value;
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        return key.Kind == KeyKind.List && colon > 0 ? value[..(colon + 1)] + SecretUrl.Hidden : SecretUrl.Hidden;
    }

    /// <summary>A scalar; the emitter quotes it when plain YAML would misread it, and so do we for what reads as null.</summary>
    private static Scalar Text(string value)
    {
        var style = value is "" or "~" || value.Equals("null", StringComparison.OrdinalIgnoreCase) ? ScalarStyle.SingleQuoted : ScalarStyle.Any;
        return new Scalar(AnchorName.Empty, TagName.Empty, value, style, true, true);
    }
}
