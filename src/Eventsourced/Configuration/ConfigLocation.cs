namespace Eventsourced.Configuration;

/// <summary>Where a configuration value came from: a line of a file (line 0: the file itself) or an environment variable.</summary>
internal readonly record struct ConfigLocation(string Source, long Line, bool IsEnvironment)
{
    public static ConfigLocation InFile(string path, long line) => new(path, line, false);

    public static ConfigLocation Variable(string name) => new(name, 0, true);

    /// <summary>How another problem refers to this place: <c>line 3</c> (same file) or the variable's name.</summary>
    public string Reference => IsEnvironment ? Source : $"line {Line}";

    /// <summary>The start of a problem line: <c>FILE:LINE</c>, <c>FILE</c> or <c>environment NAME</c>.</summary>
    public override string ToString() => IsEnvironment ? $"environment {Source}" : Line > 0 ? $"{Source}:{Line}" : Source;
}
