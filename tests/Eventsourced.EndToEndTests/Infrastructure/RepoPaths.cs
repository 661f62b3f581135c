namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>Where things are in the checkout these tests were built from.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "eventsourced.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName
            ?? throw new InvalidOperationException($"no eventsourced.sln above {AppContext.BaseDirectory}");
    });

    /// <summary>The repository's root directory (holds eventsourced.sln).</summary>
    public static string Root => RootPath.Value;

    /// <summary><c>examples/</c>, or a file or directory below it.</summary>
    public static string Examples(params string[] parts) => Path.Combine([Root, "examples", .. parts]);

    /// <summary>
    /// <c>out/eventsourced</c>: what <c>make publish</c> writes and the Dockerfile copies into its image.
    /// </summary>
    /// <exception cref="InvalidOperationException">Not published yet.</exception>
    public static string PublishedGateway
    {
        get
        {
            var directory = Path.Combine(Root, "out", "eventsourced");
            return File.Exists(Path.Combine(directory, "eventsourced"))
                ? directory
                : throw new InvalidOperationException($"{directory}/eventsourced is missing: run `make publish` first (`make test` does).");
        }
    }
}
