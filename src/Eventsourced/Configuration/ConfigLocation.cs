namespace Eventsourced.Configuration;

/// <summary>What kind of place a configuration value came from.</summary>
internal enum ConfigSourceKind : byte
{
    /// <summary>A line of a YAML file (line 0: the file itself).</summary>
    File,

    /// <summary>An environment variable.</summary>
    Environment,

    /// <summary>A key of an application's own configuration (the gateway embedded with <c>AddEventsourced</c>).</summary>
    Configuration,

    /// <summary>No single source: defaults, options set in code, or a check of several keys together.</summary>
    Derived,
}

/// <summary>Where a configuration value came from, for problem messages.</summary>
internal readonly record struct ConfigLocation(string Source, long Line, ConfigSourceKind Kind)
{
    /// <summary>Values that no source set: defaults, or options set in code.</summary>
    public static readonly ConfigLocation Options = new("options", 0, ConfigSourceKind.Derived);

    /// <summary>A problem of several keys together, from whatever sources.</summary>
    public static readonly ConfigLocation Combination = new("configuration", 0, ConfigSourceKind.Derived);

    public static ConfigLocation InFile(string path, long line) => new(path, line, ConfigSourceKind.File);

    public static ConfigLocation Variable(string name) => new(name, 0, ConfigSourceKind.Environment);

    public static ConfigLocation ConfigurationKey(string path) => new(path, 0, ConfigSourceKind.Configuration);

    public bool IsFile => Kind == ConfigSourceKind.File;

    /// <summary>How another problem refers to this place: <c>line 3</c> (same file) or the variable's or key's name.</summary>
    public string Reference => IsFile ? $"line {Line}" : Source;

    /// <summary>The start of a problem line: <c>FILE:LINE</c>, <c>FILE</c>, <c>environment NAME</c> or <c>configuration KEY</c>.</summary>
    public override string ToString() => Kind switch
    {
        ConfigSourceKind.File => Line > 0 ? $"{Source}:{Line}" : Source,
        ConfigSourceKind.Environment => $"environment {Source}",
        ConfigSourceKind.Configuration => $"configuration {Source}",
        _ => Source,
    };
}
