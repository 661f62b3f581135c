namespace Eventsourced.Configuration;

/// <summary>
/// Every problem found in the configuration sources, one line each (<c>FILE:LINE: KEY: problem</c>).
/// Meant to be printed as it is: neither <see cref="ToString"/> nor <see cref="StackTrace"/> adds a stack trace.
/// </summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
        : this(["invalid configuration"])
    {
    }

    public ConfigException(string message)
        : this([message])
    {
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [message];
    }

    public ConfigException(IReadOnlyList<string> problems)
        : base(string.Join('\n', problems ?? throw new ArgumentNullException(nameof(problems))))
    {
        Problems = problems;
    }

    internal ConfigException(IEnumerable<ConfigProblem> problems)
        : this(problems.ToArray())
    {
    }

    private ConfigException(ConfigProblem[] problems)
        : this(problems.Select(p => p.ToString()).ToArray())
    {
        Details = problems;
    }

    /// <summary>The problems, one per line of <see cref="Exception.Message"/>.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>
    /// The same problems with their place, key and text apart (what a JSON log entry of event 151 names), or null when the
    /// exception was made from lines of text alone.
    /// </summary>
    internal IReadOnlyList<ConfigProblem>? Details { get; }

    /// <summary>Always null: the problems are the user's to fix, the call stack is not.</summary>
    public override string? StackTrace => null;

    public override string ToString() => Message;
}
