using System.Text;

namespace Eventsourced.Bench.Report;

/// <summary>The results as the Markdown table the README shows.</summary>
internal static class MarkdownTable
{
    public static string Render(IReadOnlyList<ScenarioResult> results, string caption, bool rowsOnly = false)
    {
        var text = new StringBuilder();
        if (!rowsOnly)
        {
            text.AppendLine(caption).AppendLine();
            text.AppendLine("| scenario | load | measured | target | verdict | CPU while it ran |");
            text.AppendLine("|---|---|---|---|---|---|");
        }

        foreach (var r in results)
        {
            var verdict = r.Failures.Count == 0 ? r.VerdictText : $"{r.VerdictText}: {string.Join("; ", r.Failures)}";
            text.AppendLine($"| {Cell(r.Scenario)} | {Cell(r.Load)} | {Cell(r.Measured)} | {Cell(r.Target)} | {Cell(verdict)} | {Cell(r.Cpu)} |");
        }

        return text.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
