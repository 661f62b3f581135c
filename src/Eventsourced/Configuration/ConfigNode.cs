namespace Eventsourced.Configuration;

/// <summary>
/// A YAML-shaped value with the place it came from. Files and environment variables are both read
/// into this tree so that one <see cref="ConfigBinder"/> applies and checks them.
/// </summary>
internal sealed class ConfigNode
{
    private ConfigNode(ConfigNodeKind kind, string? value, ConfigLocation location)
    {
        Kind = kind;
        Value = value;
        Location = location;
    }

    public ConfigNodeKind Kind { get; }

    /// <summary>The text of a scalar; null for YAML's null (<c>~</c>, <c>null</c>, nothing) and for non-scalars.</summary>
    public string? Value { get; }

    public ConfigLocation Location { get; }

    public List<ConfigNode> Items { get; } = [];

    public List<KeyValuePair<ConfigNode, ConfigNode>> Entries { get; } = [];

    public bool IsNull => Kind == ConfigNodeKind.Scalar && Value is null;

    /// <summary>How problems name this shape: "single value", "list" or "mapping".</summary>
    public string Describe() => Kind switch
    {
        ConfigNodeKind.Scalar => "single value",
        ConfigNodeKind.Sequence => "list",
        _ => "mapping",
    };

    public static ConfigNode Scalar(string? value, ConfigLocation location) => new(ConfigNodeKind.Scalar, value, location);

    public static ConfigNode Sequence(ConfigLocation location) => new(ConfigNodeKind.Sequence, null, location);

    public static ConfigNode Mapping(ConfigLocation location) => new(ConfigNodeKind.Mapping, null, location);
}
