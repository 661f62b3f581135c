namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// <c>promtool</c> and <c>prometheus</c> from Debian's <c>prometheus</c> package. Tests that need them fail,
/// never skip, when they are missing, and say how to install them.
/// </summary>
public static class PrometheusTools
{
    public static string Promtool => Find("promtool");

    public static string Prometheus => Find("prometheus");

    /// <summary><c>promtool check metrics</c> on <paramref name="exposition"/> (stdin): its exit code and everything it printed.</summary>
    public static Task<ProcessResult> CheckMetricsAsync(string exposition, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(Promtool, ["check", "metrics"], timeout ?? TimeSpan.FromSeconds(30), standardInput: exposition);

    private static string Find(string name)
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Append("/usr/local/bin");
        foreach (var directory in directories)
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"PROMETHEUS TOOLS MISSING: `{name}` is not installed, and this test needs it (it fails rather than skips). "
            + "Install Debian's prometheus package: `apt-get install -y prometheus`, or `bash build/ci-deps.sh` as root "
            + "(it keeps the package's own service from starting; the tests run their own prometheus on a free loopback port).");
    }
}
