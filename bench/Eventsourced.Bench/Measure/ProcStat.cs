using System.Globalization;

namespace Eventsourced.Bench.Measure;

/// <summary>A process's CPU time as /proc/PID/stat counts it (Linux).</summary>
internal static class ProcStat
{
    /// <summary>Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux architecture .NET runs on.</summary>
    public const int UserHz = 100;

    /// <summary>User plus system time in clock ticks; throws <see cref="IOException"/> when the process is gone.</summary>
    public static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
