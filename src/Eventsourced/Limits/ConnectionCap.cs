using System.Runtime.InteropServices;

namespace Eventsourced.Limits;

/// <summary>
/// How many client connections the gateway accepts at once. Without a cap, clients opening as many idle connections
/// as the process's open-file limit made <c>accept()</c> fail with EMFILE and the gateway abort. Below the cap Kestrel
/// accepts and closes the excess at once, so the process keeps descriptors for its broker connections, files and
/// runtime. There is no managed API for the limit, hence the one libc call.
/// </summary>
internal static partial class ConnectionCap
{
    private const int RlimitNofile = 7; // RLIMIT_NOFILE on Linux (x64, arm64)

    /// <summary>Descriptors kept for what the process opens after start: assemblies loaded later (the runtime keeps each one's file open), broker connections, files.</summary>
    private const int Margin = 256;

    /// <summary>
    /// Connections <c>metrics.address</c> accepts at once, beside <c>limits.max_connections</c>: scrapes and probes open
    /// a few (<c>/metrics</c> closes its connection after each answer), and they are answered while the clients' listener
    /// is full.
    /// </summary>
    public const int ObservabilityConnections = 64;

    /// <summary>
    /// The open-file limit less a reserve: what is open now plus <see cref="Margin"/>, or a tenth of the limit if that
    /// is more, and <paramref name="alsoReserved"/> (the observability listener's connections); or
    /// <paramref name="configured"/> when set and no more than that. A configured cap above it would let accept() run
    /// out of descriptors, which aborts the process (EMFILE in Kestrel's accept loop: "Out of memory"), so it is
    /// lowered to it and <paramref name="needed"/> says the open-file limit that would allow it. Null when the limit is
    /// unknown or unlimited and nothing is configured.
    /// </summary>
    public static long? Effective(int configured, out long? fileLimit, out long? needed, int alsoReserved = 0)
    {
        fileLimit = OpenFileLimit();
        needed = null;
        long? available = null;
        var openReserve = 0L;
        if (fileLimit is { } limit)
        {
            openReserve = OpenNow() + Margin;
            available = Math.Max(1, limit - Math.Max(limit / 10, openReserve) - alsoReserved);
        }

        if (configured <= 0)
        {
            return available;
        }

        if (available is { } most && configured > most)
        {
            needed = Needed(configured, alsoReserved, openReserve);
            return most;
        }

        return configured;
    }

    /// <summary>
    /// Fewer connections than this, worked out from the open-file limit (<c>limits.max_connections: 0</c>), are logged as
    /// a warning: a limit such as 256 left room for one connection, and the gateway only said so in an information line.
    /// </summary>
    public const int FewConnections = 100;

    /// <summary>Connections the warning of a low limit names the open-file limit for (<see cref="FewConnections"/>).</summary>
    public const int WantedConnections = 1000;

    /// <summary>The smallest open-file limit whose reserve leaves room for <paramref name="connections"/> (a tenth of it, if that is more).</summary>
    public static long Needed(long connections, int alsoReserved, long? openReserve = null) =>
        Math.Max(connections + alsoReserved + (openReserve ?? OpenNow() + Margin), ((connections + alsoReserved) * 10 + 8) / 9);

    /// <summary>Descriptors open now (about two per loaded assembly, ~200 at start).</summary>
    private static long OpenNow()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The soft <c>RLIMIT_NOFILE</c> (the runtime raises it to the hard limit at start), or null where unknown.</summary>
    public static long? OpenFileLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return GetRLimit(RlimitNofile, out var limit) == 0 && limit.Current < int.MaxValue ? (long)limit.Current : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);
}
