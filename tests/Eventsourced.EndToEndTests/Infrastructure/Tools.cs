namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// The programs these tests drive, found on PATH or where Debian installs them. A missing one fails the
/// test with the package to install: these tests never skip.
/// </summary>
public static class Tools
{
    private static readonly string[] ExtraDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>The absolute path of <paramref name="program"/>.</summary>
    /// <exception cref="InvalidOperationException">Not installed; the message names <paramref name="debianPackage"/>.</exception>
    public static string Require(string program, string debianPackage) =>
        Find(program) ?? throw new InvalidOperationException(
            $"`{program}` is not installed, and this test needs it (it fails rather than skips without it). "
            + $"Install Debian's {debianPackage}: `apt-get install -y {debianPackage}`, or run `bash build/ci-deps.sh` as root.");

    public static string? Find(string program)
    {
        if (Path.IsPathRooted(program))
        {
            return File.Exists(program) ? program : null;
        }

        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        return path.Concat(ExtraDirectories)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
    }
}
