using System.Diagnostics;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// storm: N subscribers connect at once; the time until every one is streaming (200 and the opening
/// comment received), the spread of those times, and every subscriber that failed.
/// </summary>
internal static class StormScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var streams = options.Streams ?? 10_000;
        var load = $"{BenchContext.N(streams)} subscribers at once";
        var target = streams >= 10_000 ? "all streaming within 15 s, none failed" : "none failed";
        var names = context.QueueNames("storm", streams);
        var failures = new List<string>();
        var set = new StreamSet(context.Connector, names, onMessage: null);
        try
        {
            Log.Line($"storm: {load}");
            set.Start();
            await set.WaitSettledAsync(streams, options.Timeout);
            // Streams that opened must stay open: a gateway that drops them under load fails here too.
            await Task.Delay(2000);
            StreamChecks.Opening(set, failures);
            var times = set.Streams.Where(s => s.IsStreaming)
                .Select(s => (s.OpenedAt - set.StartedAt) / (double)Stopwatch.Frequency)
                .Order()
                .ToArray();
            var all = times.Length == streams;
            string Quantile(double q) => times.Length == 0 ? "-" : $"{BenchContext.F(NearestRank.Of(times, q))} s";
            var measured = (all ? $"all streaming after {Quantile(1)}" : $"{BenchContext.N(times.Length)} of {BenchContext.N(streams)} streaming, the last after {Quantile(1)}")
                + $" (p50 {Quantile(0.5)}, p99 {Quantile(0.99)}); {BenchContext.N(set.Failed)} failed";
            Log.Line($"storm: {measured}");
            bool? met = streams >= 10_000 ? all && times[^1] <= 15 : null;
            return new ScenarioResult("storm", load, measured, target, ScenarioResult.Judge(failures, met), failures);
        }
        finally
        {
            await set.CloseAsync();
            await context.Broker.DeleteAsync(names);
        }
    }
}
