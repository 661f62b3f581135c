using System.Diagnostics;

namespace Eventsourced.Bench.Measure;

/// <summary>
/// Who used the machine's CPU during a scenario: the gateway, the broker, this tool and everything else,
/// as shares of all cores, from /proc/PID/stat. Numbers measured while others were busy
/// say so next to them.
/// </summary>
internal sealed class CpuShare
{
    private readonly int? _gateway;
    private readonly int? _broker;

    public CpuShare(int? gatewayPid, int? brokerPid)
    {
        _gateway = gatewayPid;
        _broker = brokerPid;
    }

    public Snapshot Take()
    {
        var others = new Dictionary<int, long>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != _gateway && pid != _broker && pid != Environment.ProcessId)
            {
                var jiffies = ProcessJiffies(pid);
                if (jiffies > 0)
                {
                    others[pid] = jiffies;
                }
            }
        }

        return new(Stopwatch.GetTimestamp(), ProcessJiffies(_gateway), ProcessJiffies(_broker), ProcessJiffies(Environment.ProcessId), others);
    }

    /// <summary>"gateway 41%, broker 35%, tool 12%, others 3% of 2 cores" between two snapshots.</summary>
    public string Describe(Snapshot before, Snapshot after)
    {
        var total = Capacity(before, after);
        string Share(long jiffies) => $"{jiffies / total * 100:F0}%";
        var parts = new List<string>();
        if (_gateway is not null)
        {
            parts.Add($"gateway {Share(after.Gateway - before.Gateway)}");
        }

        if (_broker is not null)
        {
            parts.Add($"broker {Share(after.Broker - before.Broker)}");
        }

        parts.Add($"tool {Share(after.Tool - before.Tool)}");
        parts.Add($"{(_broker is null ? "others incl. broker" : "others")} {Share(Others(before, after))}");
        return $"{string.Join(", ", parts)} of {Environment.ProcessorCount} cores";
    }

    /// <summary>
    /// "gateway 9.1, broker 18.0, tool 14.2 us/msg" between two snapshots: each process's CPU time divided by the
    /// messages that went through meanwhile, in microseconds (resolution: one clock tick, 10 ms, per span).
    /// </summary>
    public string PerMessage(Snapshot before, Snapshot after, long messages)
    {
        string Cost(long jiffies) => $"{jiffies * 1e6 / ProcStat.UserHz / Math.Max(1, messages):F1}";
        var parts = new List<string>();
        if (_gateway is not null)
        {
            parts.Add($"gateway {Cost(after.Gateway - before.Gateway)}");
        }

        if (_broker is not null)
        {
            parts.Add($"broker {Cost(after.Broker - before.Broker)}");
        }

        parts.Add($"tool {Cost(after.Tool - before.Tool)}");
        return $"{string.Join(", ", parts)} us/msg of CPU";
    }

    /// <summary>The gateway's CPU seconds between two snapshots; null without its pid.</summary>
    public double? GatewaySeconds(Snapshot before, Snapshot after) =>
        _gateway is null ? null : (after.Gateway - before.Gateway) / (double)ProcStat.UserHz;

    /// <summary>CPU of every other process as a fraction of the machine.</summary>
    public double OthersFraction(Snapshot before, Snapshot after) => Others(before, after) / Capacity(before, after);

    /// <summary>
    /// What the other processes used, at least: each one's CPU time now minus at the start (all of it for one
    /// that started meanwhile). Processes that came and went in between are missed. Per-process accounting,
    /// because /proc/stat's tick sampling misses short bursts on this kind of VM.
    /// </summary>
    private static long Others(Snapshot before, Snapshot after) =>
        after.Others.Sum(kv => Math.Max(0, kv.Value - before.Others.GetValueOrDefault(kv.Key)));

    private static double Capacity(Snapshot before, Snapshot after) =>
        Math.Max(1e-9, Stopwatch.GetElapsedTime(before.At, after.At).TotalSeconds * ProcStat.UserHz * Environment.ProcessorCount);

    private static long ProcessJiffies(int? pid)
    {
        if (pid is null)
        {
            return 0;
        }

        try
        {
            return ProcStat.CpuTicks(pid.Value);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0; // gone meanwhile
        }
    }

    public sealed record Snapshot(long At, long Gateway, long Broker, long Tool, Dictionary<int, long> Others);
}
