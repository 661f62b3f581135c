namespace Eventsourced.Testing.Brokers;

/// <summary>
/// Finds RabbitMQ's own start scripts. Debian's <c>/usr/sbin/rabbitmq-server</c> and
/// <c>rabbitmqctl</c> are wrappers that <c>cd /var/lib/rabbitmq</c> and, for root, <c>su rabbitmq</c>
/// (that user's HOME, cookie and permissions), so a private node must bypass them:
/// the real scripts are in <c>/usr/lib/rabbitmq/bin</c>. Elsewhere (generic tarball, Homebrew)
/// the scripts on PATH are the real ones. <c>RABBITMQ_SBIN</c> overrides the search.
/// </summary>
public static class RabbitMqInstallation
{
    private const string DebianScripts = "/usr/lib/rabbitmq/bin";

    private static readonly Lazy<string?> ScriptDirectory = new(FindScriptDirectory);

    /// <summary>The directory holding <c>rabbitmq-server</c> and <c>rabbitmqctl</c>, or null when RabbitMQ is not installed.</summary>
    public static string? ScriptsOrNull => ScriptDirectory.Value;

    /// <exception cref="InvalidOperationException">RabbitMQ is not installed; the message says how to fix that.</exception>
    public static string Scripts => ScriptDirectory.Value ?? throw new InvalidOperationException(
        "RabbitMQ is not installed: no rabbitmq-server in $RABBITMQ_SBIN, " + DebianScripts + " or on PATH "
        + "(Debian: apt-get install rabbitmq-server; build/ci-deps.sh and `make test` do that when run as root).");

    public static string RabbitmqServer => Path.Combine(Scripts, "rabbitmq-server");

    public static string RabbitmqctlPath => Path.Combine(Scripts, "rabbitmqctl");

    private static string? FindScriptDirectory()
    {
        foreach (var candidate in new[] { Environment.GetEnvironmentVariable("RABBITMQ_SBIN"), DebianScripts })
        {
            if (!string.IsNullOrEmpty(candidate) && HasScripts(candidate))
            {
                return candidate;
            }
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var server = Path.Combine(directory, "rabbitmq-server");
            if (!File.Exists(server) || IsDebianWrapper(server))
            {
                continue;
            }
            var resolved = Path.GetDirectoryName(new FileInfo(server).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? server);
            if (resolved is not null && HasScripts(resolved))
            {
                return resolved;
            }
        }
        return null;
    }

    private static bool HasScripts(string directory) =>
        File.Exists(Path.Combine(directory, "rabbitmq-server")) && File.Exists(Path.Combine(directory, "rabbitmqctl"));

    private static bool IsDebianWrapper(string script)
    {
        try
        {
            return File.ReadAllText(script).Contains("cd /var/lib/rabbitmq", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
