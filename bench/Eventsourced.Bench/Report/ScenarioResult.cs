namespace Eventsourced.Bench.Report;

internal enum Verdict
{
    /// <summary>The scenario ran clean and met its target.</summary>
    Met,
    /// <summary>The scenario ran clean but missed its target.</summary>
    Missed,
    /// <summary>The scenario ran clean; no target applies at this size.</summary>
    NoTarget,
    /// <summary>Failed, incomplete or out-of-order streams: the numbers mean nothing.</summary>
    Fail,
}

/// <summary>One row of the results: what ran, what was measured, the target, and the verdict.</summary>
internal sealed record ScenarioResult(string Scenario, string Load, string Measured, string Target, Verdict Verdict, IReadOnlyList<string> Failures)
{
    /// <summary>Who used the CPU while the scenario ran (see <c>CpuShare</c>).</summary>
    public string Cpu { get; init; } = "-";

    /// <summary>A chart of the run (an SVG document) and the file name it is written under, next to the Markdown table.</summary>
    public (string FileName, string Svg)? Chart { get; init; }

    public static Verdict Judge(IReadOnlyList<string> failures, bool? targetMet) =>
        failures.Count > 0 ? Verdict.Fail : targetMet switch { true => Verdict.Met, false => Verdict.Missed, null => Verdict.NoTarget };

    public string VerdictText => Verdict switch
    {
        Verdict.Met => "met",
        Verdict.Missed => "MISSED",
        Verdict.NoTarget => "ok (no target at this size)",
        _ => "FAIL",
    };

    /// <summary>The one line per scenario on stdout.</summary>
    public string Line
    {
        get
        {
            var line = $"{Scenario} [{Load}]: {Measured} | target {Target} | {VerdictText} | CPU: {Cpu}";
            return Failures.Count == 0 ? line : $"{line} | failures: {string.Join("; ", Failures)}";
        }
    }
}
