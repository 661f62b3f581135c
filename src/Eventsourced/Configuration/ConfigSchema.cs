using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>The shape of a configuration key, from its property's type.</summary>
internal enum KeyKind
{
    /// <summary>A string.</summary>
    Text,

    /// <summary>An <see cref="int"/>, bounded by a <see cref="RangeAttribute"/>.</summary>
    Number,

    /// <summary>A <see cref="bool"/>: <c>true</c> or <c>false</c>.</summary>
    Flag,

    /// <summary>A string from the list of an <see cref="AllowedValuesAttribute"/>, matched ignoring case.</summary>
    Choice,

    /// <summary>A <c>List&lt;string&gt;</c> that a later source replaces as a whole.</summary>
    List,

    /// <summary>A <c>Dictionary&lt;string, string&gt;</c> merged by name over earlier sources; an empty value removes an entry.</summary>
    Map,
}

/// <summary>One key, <c>section.name</c>, read off its options property.</summary>
internal sealed record SchemaKey(string Section, string Name, PropertyInfo Property, KeyKind Kind)
{
    public string Path => $"{Section}.{Name}";

    /// <summary>Its key in <see cref="IConfiguration"/>: <c>section:name</c>.</summary>
    public string ConfigurationKey => $"{Section}:{Name}";

    public IReadOnlyList<string> Aliases { get; init; } = [];

    public int Min { get; init; } = int.MinValue;

    public int Max { get; init; } = int.MaxValue;

    public IReadOnlyList<string> Choices { get; init; } = [];

    /// <summary>The check of the value (of each list item), if any.</summary>
    public Func<string, string?>? Rule { get; init; }

    /// <summary>The checks of a map's entries, if any.</summary>
    public IMapRuleSource? MapRules { get; init; }

    public MaskKind? Mask { get; init; }

    public bool MayBeEmpty { get; init; }

    /// <summary>A section's value of this key (a string, an int, a bool, a list or a map).</summary>
    public object? Get(object section) => Property.GetValue(section);

    public void Set(object section, object? value) => Property.SetValue(section, value);
}

/// <summary>One section: a property of the root options whose type is the section's options class.</summary>
internal sealed record SchemaSection(string Name, PropertyInfo Property, IReadOnlyList<SchemaKey> Keys)
{
    public Type OptionsType => Property.PropertyType;

    public object Get(object root) => Property.GetValue(root) ?? throw new InvalidOperationException($"section {Name} is null");
}

/// <summary>
/// Every section and key of a root options class, read off its properties: names from
/// <see cref="ConfigurationKeyNameAttribute"/> (the names the standard binder uses), the kind from the
/// property's type, bounds and choices from <see cref="RangeAttribute"/> and <see cref="AllowedValuesAttribute"/>,
/// checks from <see cref="ValueRuleAttribute{TRule}"/>. Adding a key is adding a property. The loader, the
/// validation and <c>eventsourced -c</c> follow from it, in declaration order.
/// </summary>
internal sealed class ConfigSchema
{
    private ConfigSchema(IReadOnlyList<SchemaSection> sections) => Sections = sections;

    /// <summary>The gateway's configuration: the sections of <see cref="GatewayOptions"/>.</summary>
    public static ConfigSchema Gateway { get; } = For(typeof(GatewayOptions));

    public IReadOnlyList<SchemaSection> Sections { get; }

    public IEnumerable<SchemaKey> Keys => Sections.SelectMany(s => s.Keys);

    public static ConfigSchema For(Type root) =>
        new(root.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .OrderBy(p => p.MetadataToken)
            .Select(p => new SchemaSection(NameOf(p), p, KeysOf(NameOf(p), p.PropertyType)))
            .ToArray());

    private static SchemaKey[] KeysOf(string section, Type options) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .OrderBy(p => p.MetadataToken)
            .Select(p => KeyOf(section, p))
            .ToArray();

    private static SchemaKey KeyOf(string section, PropertyInfo property)
    {
        var choices = property.GetCustomAttribute<AllowedValuesAttribute>()?.Values.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)!).ToArray();
        var kind = property.PropertyType switch
        {
            var t when t == typeof(int) => KeyKind.Number,
            var t when t == typeof(bool) => KeyKind.Flag,
            var t when t == typeof(string) => choices is null ? KeyKind.Text : KeyKind.Choice,
            var t when t == typeof(List<string>) => KeyKind.List,
            var t when t == typeof(Dictionary<string, string>) => KeyKind.Map,
            var t => throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name}: configuration keys of type {t.Name} are not supported"),
        };
        var range = property.GetCustomAttribute<RangeAttribute>();
        return new SchemaKey(section, NameOf(property), property, kind)
        {
            Aliases = property.GetCustomAttribute<ConfigurationAliasAttribute>()?.Aliases ?? [],
            Min = range is null ? int.MinValue : Convert.ToInt32(range.Minimum, System.Globalization.CultureInfo.InvariantCulture),
            Max = range is null ? int.MaxValue : Convert.ToInt32(range.Maximum, System.Globalization.CultureInfo.InvariantCulture),
            Choices = choices ?? [],
            Rule = property.GetCustomAttributes().OfType<IValueRuleSource>().FirstOrDefault()?.Rule,
            MapRules = property.GetCustomAttributes().OfType<IMapRuleSource>().FirstOrDefault(),
            Mask = property.GetCustomAttribute<MaskedAttribute>()?.Kind,
            MayBeEmpty = property.GetCustomAttribute<MayBeEmptyAttribute>() is not null,
        };
    }

    private static string NameOf(PropertyInfo property) =>
        property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name
        ?? throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name} needs a [ConfigurationKeyName]");
}
