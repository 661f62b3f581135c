namespace Eventsourced.Tests.Configuration;

/// <summary>A file with unique name under the temp directory, deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string content)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"eventsourced-test-{Guid.NewGuid():N}.yml");
        File.WriteAllText(Path, content);
    }

    public string Path { get; }

    /// <summary>A unique path under the temp directory that does not exist.</summary>
    public static string MissingPath() =>
        System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"eventsourced-test-missing-{Guid.NewGuid():N}.yml");

    public void Dispose() => File.Delete(Path);
}
