using System.Diagnostics;

namespace Eventsourced.Bench;

/// <summary>Progress on stderr, with the seconds since the tool started; results go to stdout.</summary>
internal static class Log
{
    private static readonly long Start = Stopwatch.GetTimestamp();

    /// <summary>Starts the clock of the log lines.</summary>
    public static void Begin() => _ = Start;

    public static void Line(string message) =>
        Console.Error.WriteLine($"bench [{Stopwatch.GetElapsedTime(Start).TotalSeconds,7:F1}s] {message}");
}
