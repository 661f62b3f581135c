namespace Eventsourced.Tests.Documentation;

/// <summary>The repository's own files (README.md, config.yml-dist) that tests hold the code to.</summary>
internal static class RepositoryFile
{
    /// <summary>The path of <paramref name="name"/> in the first directory above the test binaries that holds it and <c>eventsourced.sln</c>.</summary>
    public static string Find(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, name);
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "eventsourced.sln")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{name} not found above {AppContext.BaseDirectory}");
    }
}
