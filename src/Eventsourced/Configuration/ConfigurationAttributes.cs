namespace Eventsourced.Configuration;

/// <summary>
/// A check of one configuration value beyond its type (a URL, an address, a pattern). Returns a problem
/// message, or null when the value is fine. Attached to an options property with
/// <see cref="ValueRuleAttribute{TRule}"/>; for a list, each item is checked.
/// </summary>
internal interface IValueRule
{
    static abstract string? Check(string value);
}

/// <summary>Checks the property's value (each item of a list) with <typeparamref name="TRule"/>.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class ValueRuleAttribute<TRule> : Attribute, IValueRuleSource
    where TRule : IValueRule
{
    public Func<string, string?> Rule => TRule.Check;
}

/// <summary>What <see cref="ConfigSchema"/> reads off a <see cref="ValueRuleAttribute{TRule}"/> of any rule type.</summary>
internal interface IValueRuleSource
{
    Func<string, string?> Rule { get; }
}

/// <summary>Other names accepted for the key in its section (the original's <c>queue.expire</c>); giving two in one source is an error.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class ConfigurationAliasAttribute(params string[] aliases) : Attribute
{
    public IReadOnlyList<string> Aliases { get; } = aliases;
}

/// <summary>
/// How <c>eventsourced -c</c> prints the value: never as it is. A secret is printed as <c>***</c> when set;
/// a broker URL keeps everything but its password.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class MaskedAttribute(MaskKind kind = MaskKind.Secret) : Attribute
{
    public MaskKind Kind { get; } = kind;
}

internal enum MaskKind
{
    /// <summary>The whole value is replaced by <c>***</c> (an empty value stays empty).</summary>
    Secret,

    /// <summary>An AMQP URL printed without its password.</summary>
    BrokerUrl,

    /// <summary>An HTTP URL printed without its password and its query's values (<see cref="SecretUrl"/>).</summary>
    Url,
}

/// <summary>
/// A list whose entries start with a signing algorithm (<c>HS256:SECRET</c>, <c>HS512:PATH</c>): given as one variable,
/// it is split only at a comma before the next entry's algorithm, so that a secret or a path keeps its commas.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class AlgorithmEntriesAttribute : Attribute
{
}

/// <summary>An empty list is allowed (by default a list must name at least one value).</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class MayBeEmptyAttribute : Attribute
{
}

/// <summary>Checks each entry of a map: its name with <typeparamref name="TNameRule"/>, its value with <typeparamref name="TValueRule"/>.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class MapRulesAttribute<TNameRule, TValueRule> : Attribute, IMapRuleSource
    where TNameRule : IValueRule
    where TValueRule : IValueRule
{
    public Func<string, string?> NameRule => TNameRule.Check;

    public Func<string, string?> ValueRule => TValueRule.Check;

    /// <summary>What problems call an entry ("header").</summary>
    public string Entry { get; init; } = "entry";

    /// <summary>
    /// The entry names, when they are a fixed set spelled one way (<c>queue</c>, <c>topic</c>): a name configured in
    /// another case (an environment variable's <c>QUEUE</c>) is taken, and printed by <c>-c</c>, in this spelling.
    /// Empty: names are kept as configured (header names).
    /// </summary>
    public string[] Names { get; init; } = [];
}

/// <summary>What <see cref="ConfigSchema"/> reads off a <see cref="MapRulesAttribute{TNameRule, TValueRule}"/>.</summary>
internal interface IMapRuleSource
{
    Func<string, string?> NameRule { get; }

    Func<string, string?> ValueRule { get; }

    string Entry { get; }

    string[] Names { get; }
}
