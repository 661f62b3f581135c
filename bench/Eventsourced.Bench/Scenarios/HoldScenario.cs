using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// hold: N idle streams; the gateway's resident memory per stream, (RSS with N streams - RSS before) / N.
/// Streams open in waves of 1,000 so that the storm scenario's problems do not spoil this one, and stay
/// open past a heartbeat interval so the steady state is measured, not the opening burst.
/// </summary>
internal static class HoldScenario
{
    private const int Wave = 1_000;

    /// <summary>The target shapes (issue #15) when --streams is left out: 10,000 streams (memory per stream) and 15,000 (held at all).</summary>
    public static IEnumerable<int> Shapes(BenchOptions options) => options.Streams is { } streams ? [streams] : [10_000, 15_000];

    /// <summary>Gateways a hold has run on: the heap a shape grew stays, so a later shape's figure is not memory per stream.</summary>
    private static readonly HashSet<ProcessMemory> HeldOn = [];

    public static async Task<ScenarioResult> RunAsync(BenchContext context, int streams)
    {
        var options = context.Options;
        var hold = options.Duration ?? 20;
        var load = $"{BenchContext.N(streams)} idle streams held {BenchContext.F(hold, 0)} s";
        var target = Target(streams);
        if (context.Gateway is not { } gateway)
        {
            return new ScenarioResult("hold", load, "not measured: no --gateway-pid", target, Verdict.NoTarget, []);
        }

        var failures = new List<string>();
        var fresh = HeldOn.Add(gateway);
        await WarmUpAsync(context);
        var before = await gateway.SettleAsync(TimeSpan.FromSeconds(20));
        Log.Line($"hold: gateway before: RSS {MemorySample.Mb(before.Rss)}, {before.Threads} threads, {before.FileDescriptors} fds; opening {BenchContext.N(streams)} streams");
        var names = context.QueueNames("hold", streams);
        var set = new StreamSet(context.Connector, names, onMessage: null);
        try
        {
            for (var from = 0; from < streams; from += Wave)
            {
                var to = Math.Min(streams, from + Wave);
                set.Start(from, to);
                if (!await set.WaitSettledAsync(to, options.Timeout) || set.Failed > 0)
                {
                    break;
                }
            }

            StreamChecks.Opening(set, failures);
            if (failures.Count > 0)
            {
                return new ScenarioResult("hold", load, "streams did not all open", target, Verdict.Fail, failures);
            }

            var settled = await gateway.SettleAsync(TimeSpan.FromSeconds(30));
            Log.Line($"hold: {BenchContext.N(streams)} streams open, RSS {MemorySample.Mb(settled.Rss)}; holding {hold} s");
            await Task.Delay(TimeSpan.FromSeconds(hold));
            var held = gateway.Read();
            var after = held.Rss >= settled.Rss ? held : settled;
            StreamChecks.Opening(set, failures);
            var heartbeats = set.Streams.Sum(s => s.Comments - 1);

            await set.CloseAsync();
            var closed = await gateway.SettleAsync(TimeSpan.FromSeconds(20));
            var perStream = (after.Rss - before.Rss) / (double)streams / 1024;
            var anonPerStream = (after.RssAnon - before.RssAnon) / (double)streams / 1024;
            var measured = $"RSS {MemorySample.Mb(before.Rss)} -> {MemorySample.Mb(after.Rss)}: {BenchContext.F(perStream, 1)} KB per stream " +
                (fresh ? "" : "(not the memory per stream: this gateway held streams before and kept the heap they grew) ") +
                $"(anon {BenchContext.F(anonPerStream, 1)} KB); threads {before.Threads} -> {after.Threads}, fds {BenchContext.N(before.FileDescriptors)} -> {BenchContext.N(after.FileDescriptors)}; " +
                $"{BenchContext.N(heartbeats)} heartbeats; after closing all: {MemorySample.Mb(closed.Rss)}";
            Log.Line($"hold: {measured}");
            // 10,000: the memory per stream; 15,000 (the open-file limit is 20,000): held at all, which the failures say.
            bool? met = streams >= 15_000 ? true : streams >= 10_000 && fresh ? perStream <= 12 : null;
            return new ScenarioResult("hold", load, measured, target, ScenarioResult.Judge(failures, met), failures);
        }
        finally
        {
            await set.CloseAsync();
            await context.Broker.DeleteAsync(names);
        }
    }

    private static string Target(int streams) =>
        streams >= 15_000 ? "all held" : streams >= 10_000 ? "<= 12 KB per stream" : "-";

    /// <summary>A few streams opened and closed first, so that start-up costs (JIT, first pool growth) are in the baseline.</summary>
    private static async Task WarmUpAsync(BenchContext context)
    {
        var names = context.QueueNames("warmup", 20);
        var set = new StreamSet(context.Connector, names, onMessage: null);
        set.Start();
        await set.WaitSettledAsync(names.Length, TimeSpan.FromSeconds(30));
        await set.CloseAsync();
        await context.Broker.DeleteAsync(names);
    }
}
