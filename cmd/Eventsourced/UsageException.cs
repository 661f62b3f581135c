namespace Eventsourced.Cli;

/// <summary>A bad command line (exit code 64, EX_USAGE). The message is for the user, without a stack trace.</summary>
public sealed class UsageException : Exception
{
    public UsageException()
        : this("invalid command line")
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Always null: see <see cref="ConfigException.StackTrace"/>.</summary>
    public override string? StackTrace => null;

    public override string ToString() => Message;
}
