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

/// <summary>One key, <c>section.name</c> (or <c>section.subsection.name</c>), read off its options property.</summary>
internal sealed record SchemaKey(string Section, string Name, PropertyInfo Property, KeyKind Kind)
{
    public string Path => $"{Section}.{Name}";

    /// <summary>Its key in <see cref="IConfiguration"/>: <c>section:name</c> (<c>auth:jwt:secret</c>).</summary>
    public string ConfigurationKey => $"{Section.Replace('.', ':')}:{Name}";

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

    /// <summary>Entries start with an algorithm (<see cref="AlgorithmEntriesAttribute"/>).</summary>
    public bool AlgorithmEntries { get; init; }

    /// <summary>A section's value of this key (a string, an int, a bool, a list or a map).</summary>
    public object? Get(object section) => Property.GetValue(section);

    public void Set(object section, object? value) => Property.SetValue(section, value);
}

/// <summary>
/// One section: a property of the root options whose type is the section's options class, or a property of a
/// section's options class whose type is an options class of its own (a subsection: <c>auth.jwt</c>).
/// </summary>
internal sealed class SchemaSection
{
    public SchemaSection(string name, PropertyInfo property, SchemaSection? parent)
    {
        Name = name;
        Property = property;
        Parent = parent;
        Path = parent is null ? name : $"{parent.Path}.{name}";
    }

    /// <summary>The name in its parent (<c>jwt</c>).</summary>
    public string Name { get; }

    public PropertyInfo Property { get; }

    /// <summary>The section this one is a subsection of; null at the top level.</summary>
    public SchemaSection? Parent { get; }

    /// <summary>The dotted path (<c>auth.jwt</c>), as problems and the documentation name it.</summary>
    public string Path { get; }

    /// <summary>Its path in <see cref="IConfiguration"/> (<c>auth:jwt</c>).</summary>
    public string ConfigurationPath => Path.Replace('.', ':');

    public IReadOnlyList<SchemaKey> Keys { get; internal set; } = [];

    /// <summary>Subsections, after the keys in files and in <c>-c</c>'s output.</summary>
    public IReadOnlyList<SchemaSection> Subsections { get; internal set; } = [];

    public Type OptionsType => Property.PropertyType;

    /// <summary>This section's options object within <paramref name="root"/>.</summary>
    public object Get(object root) =>
        Property.GetValue(Parent is null ? root : Parent.Get(root)) ?? throw new InvalidOperationException($"section {Path} is null");

    /// <summary>This section and its subsections, depth first, each before its subsections.</summary>
    public IEnumerable<SchemaSection> SelfAndDescendants() => Subsections.SelectMany(s => s.SelfAndDescendants()).Prepend(this);
}

/// <summary>
/// Every section and key of a root options class, read off its properties: names from
/// <see cref="ConfigurationKeyNameAttribute"/> (the names the standard binder uses), the kind from the
/// property's type, bounds and choices from <see cref="RangeAttribute"/> and <see cref="AllowedValuesAttribute"/>,
/// checks from <see cref="ValueRuleAttribute{TRule}"/>. A property of a section whose type is another options
/// class is a subsection (<c>auth.jwt</c>). Adding a key is adding a property. The loader, the validation and
/// <c>eventsourced -c</c> follow from it, in declaration order (a section's keys, then its subsections).
/// </summary>
internal sealed class ConfigSchema
{
    private ConfigSchema(IReadOnlyList<SchemaSection> sections) => Sections = sections;

    /// <summary>The gateway's configuration: the sections of <see cref="GatewayOptions"/>.</summary>
    public static ConfigSchema Gateway { get; } = For(typeof(GatewayOptions));

    /// <summary>The top-level sections.</summary>
    public IReadOnlyList<SchemaSection> Sections { get; }

    /// <summary>Every section, subsections included, each before its subsections.</summary>
    public IEnumerable<SchemaSection> AllSections => Sections.SelectMany(s => s.SelfAndDescendants());

    public IEnumerable<SchemaKey> Keys => AllSections.SelectMany(s => s.Keys);

    /// <summary>
    /// The key a problem names (<c>auth.jwt.secret</c>, or a list's entry, <c>broker.node[1]</c>), case-insensitively as
    /// configuration keys are; null for a section, a header or a key that does not exist.
    /// </summary>
    public SchemaKey? Find(string? problemKey)
    {
        if (problemKey is null)
        {
            return null;
        }

        var bracket = problemKey.IndexOf('[', StringComparison.Ordinal);
        var path = bracket < 0 ? problemKey : problemKey[..bracket];
        return Keys.FirstOrDefault(key => string.Equals(key.Path, path, StringComparison.OrdinalIgnoreCase)
            || key.Aliases.Any(alias => string.Equals($"{key.Section}.{alias}", path, StringComparison.OrdinalIgnoreCase)));
    }

    public static ConfigSchema For(Type root) =>
        new(root.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .OrderBy(p => p.MetadataToken)
            .Select(p => SectionOf(p, null))
            .ToArray());

    private static SchemaSection SectionOf(PropertyInfo property, SchemaSection? parent)
    {
        var section = new SchemaSection(NameOf(property), property, parent);
        var members = property.PropertyType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .OrderBy(p => p.MetadataToken)
            .ToArray();
        section.Keys = members.Where(p => !IsSubsection(p)).Select(p => KeyOf(section.Path, p)).ToArray();
        section.Subsections = members.Where(IsSubsection).Select(p => SectionOf(p, section)).ToArray();
        return section;
    }

    /// <summary>A property whose type is a class of options rather than a value, a list or a map.</summary>
    private static bool IsSubsection(PropertyInfo property) =>
        property.PropertyType.IsClass && property.PropertyType != typeof(string) && !property.PropertyType.IsGenericType;

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
            AlgorithmEntries = property.GetCustomAttribute<AlgorithmEntriesAttribute>() is not null,
        };
    }

    private static string NameOf(PropertyInfo property) =>
        property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name
        ?? throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name} needs a [ConfigurationKeyName]");
}
