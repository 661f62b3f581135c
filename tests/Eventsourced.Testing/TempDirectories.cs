using System.Diagnostics;

namespace Eventsourced.Testing;

/// <summary>Deleting the directories of processes a test just killed, which may still be writing their last files.</summary>
public static class TempDirectories
{
    /// <summary>Deletes <paramref name="path"/> with everything in it, retrying for up to <paramref name="patience"/> (default 5 s).</summary>
    /// <returns>Null once the directory is gone (or was never there); the last error if it could not be deleted.</returns>
    public static async Task<IOException?> DeleteAsync(string path, TimeSpan? patience = null)
    {
        var limit = patience ?? TimeSpan.FromSeconds(5);
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Directory.Delete(path, recursive: true);
                return null;
            }
            catch (DirectoryNotFoundException)
            {
                return null;
            }
            catch (IOException) when (stopwatch.Elapsed < limit)
            {
                // "Directory not empty": a file appeared while deleting. Again.
                await Task.Delay(100);
            }
            catch (IOException ex)
            {
                return ex;
            }
        }
    }
}
