using System.Globalization;

namespace Eventsourced.Bench.Measure;

/// <summary>One reading of /proc/PID/status, in bytes.</summary>
internal readonly record struct MemorySample(long Rss, long RssAnon, long RssFile, int Threads, long FileDescriptors)
{
    public static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture) + " MB";
}

/// <summary>The gateway's resident memory, read from /proc (Linux).</summary>
internal sealed class ProcessMemory
{
    private readonly int _pid;

    public ProcessMemory(int pid) => _pid = pid;

    public bool IsAlive => File.Exists($"/proc/{_pid}/status");

    public MemorySample Read()
    {
        long rss = 0, anon = 0, file = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{_pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) * 1024;
            }
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                anon = Kilobytes(line) * 1024;
            }
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
            {
                file = Kilobytes(line) * 1024;
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = (int)Kilobytes(line);
            }
        }

        long fds;
        try
        {
            fds = Directory.EnumerateFileSystemEntries($"/proc/{_pid}/fd").LongCount();
        }
        catch (UnauthorizedAccessException)
        {
            fds = -1;
        }

        return new MemorySample(rss, anon, file, threads, fds);
    }

    /// <summary>
    /// Samples once a second until resident memory has stayed within 1 % for three samples in a row (or
    /// <paramref name="max"/> passed), and returns the last sample: allocations of a burst settle first.
    /// </summary>
    public async Task<MemorySample> SettleAsync(TimeSpan max)
    {
        var deadline = DateTime.UtcNow + max;
        var last = Read();
        var stable = 0;
        while (stable < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
            var next = Read();
            stable = Math.Abs(next.Rss - last.Rss) <= last.Rss / 100 ? stable + 1 : 0;
            last = next;
        }

        return last;
    }

    /// <summary>CPU time (user + system) the process has used so far, from /proc/PID/stat.</summary>
    public TimeSpan CpuTime() => TimeSpan.FromSeconds(ProcStat.CpuTicks(_pid) / (double)ProcStat.UserHz);

    /// <summary>The machine's 1-minute load average: how much else ran while we measured.</summary>
    public static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static long Kilobytes(string line)
    {
        var digits = line.AsSpan(line.IndexOf(':') + 1).Trim();
        var space = digits.IndexOf(' ');
        return long.Parse(space < 0 ? digits : digits[..space], CultureInfo.InvariantCulture);
    }
}
