using System.Runtime.InteropServices;

namespace Eventsourced.Testing.Processes;

/// <summary>POSIX signals to other processes (Linux numbering): stop a service, freeze and thaw a broker's VM.</summary>
public static class Signals
{
    public const int Hangup = 1;
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int Terminate = 15;
    public const int Continue = 18;
    public const int Stop = 19;

    private static readonly Dictionary<string, int> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = Hangup,
        ["INT"] = Interrupt,
        ["KILL"] = Kill,
        ["TERM"] = Terminate,
        ["CONT"] = Continue,
        ["STOP"] = Stop,
    };

    /// <summary>The number of a signal named as <c>kill -NAME</c> takes it: <c>TERM</c> or <c>SIGTERM</c>.</summary>
    /// <exception cref="ArgumentException">Not one of HUP, INT, KILL, TERM, CONT, STOP.</exception>
    public static int Parse(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var bare = name.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? name[3..] : name;
        return Names.TryGetValue(bare, out var signal)
            ? signal
            : throw new ArgumentException($"unknown signal '{name}' (known: {string.Join(", ", Names.Keys)})", nameof(name));
    }

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/>.</summary>
    /// <exception cref="InvalidOperationException">kill(2) failed, e.g. no such process (errno 3).</exception>
    public static void Send(int pid, int signal)
    {
        if (KillProcess(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int KillProcess(int pid, int signal);
}
