namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>Code the README shows, taken as written, for tests that run it in a page or hold a page to it.</summary>
internal static class ReadmeText
{
    private static readonly Lazy<string> Readme = new(() => File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")));

    /// <summary>The README's text from <paramref name="first"/> up to the next <paramref name="end"/> (not included); fails the test when either is missing.</summary>
    public static string Snippet(string first, string end = "\n```")
    {
        var readme = Readme.Value;
        var start = readme.IndexOf(first, StringComparison.Ordinal);
        Assert.True(start >= 0, $"README has `{first}`");
        var stop = readme.IndexOf(end, start, StringComparison.Ordinal);
        Assert.True(stop >= 0, $"README has the end of `{first}`");
        return readme[start..stop];
    }
}
