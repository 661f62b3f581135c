using System.Diagnostics;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// fanout: N subscribers of one topic (a stream queue), events published to it at a fixed rate for --warmup and
/// then --duration seconds: every subscriber must get every event, in order, once. Latency is publish to parsed
/// event at the client, over every subscriber and event of the measured part; the gateway's CPU (share of one core)
/// and resident memory while it fans out are reported with it.
/// </summary>
internal static class FanoutScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var streams = options.Streams ?? 10_000;
        var rate = options.Rate ?? 10;
        var duration = options.Duration ?? 30;
        var size = options.Size ?? 64;
        var warmup = options.Warmup;
        var warmupEvents = (long)rate * warmup;
        var measuredEvents = (long)(rate * duration);
        var total = warmupEvents + measuredEvents;
        var load = $"{BenchContext.N(streams)} subscribers of one topic, {BenchContext.N(rate)} events/s x {BenchContext.F(duration, 0)} s" +
            (warmup > 0 ? $" (after {warmup} s of warm-up)" : "") + $" x {size} B";
        var target = Target(streams, rate);
        var topic = $"bench-{context.RunId}-fanout";
        var failures = new List<string>();
        var warm = new LatencyRecorder((int)Math.Min(int.MaxValue, streams * Math.Max(1, warmupEvents)));
        var measured = new LatencyRecorder((int)Math.Min(int.MaxValue, streams * measuredEvents));
        long delivered = 0;
        await context.Broker.DeclareStreamAsync(TopicPublisher.StreamOf(topic));
        var set = new StreamSet(context.Connector, Enumerable.Repeat(topic, streams).ToArray(), (stream, seq, stamp, now) =>
        {
            (seq < warmupEvents ? warm : measured).Record(stamp, now);
            Interlocked.Increment(ref delivered);
        });
        var request = context.Connector.TopicRequest(topic);
        foreach (var stream in set.Streams)
        {
            stream.ExpectedQueue = 0;
            stream.Request = request;
        }

        try
        {
            Log.Line($"fanout {load}: opening {BenchContext.N(streams)} subscribers");
            set.Start();
            await set.WaitSettledAsync(streams, options.Timeout);
            StreamChecks.Opening(set, failures);
            if (failures.Count > 0)
            {
                return new ScenarioResult("fanout", load, "subscribers did not all open", target, Verdict.Fail, failures);
            }

            Log.Line($"fanout: {BenchContext.N(streams)} subscribers after {BenchContext.F(Stopwatch.GetElapsedTime(set.StartedAt).TotalSeconds)} s; publishing after {options.Settle} s");
            await Task.Delay(TimeSpan.FromSeconds(options.Settle));
            var idle = context.Gateway?.Read();
            var cpuBefore = context.Gateway?.CpuTime();
            var started = Stopwatch.GetTimestamp();
            long peakRss = 0;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested && context.Gateway is { IsAlive: true } gateway)
                {
                    peakRss = Math.Max(peakRss, gateway.Read().Rss);
                    await Task.Delay(500);
                }
            });
            var reached = await TopicPublisher.PublishAsync(context, topic, rate, total, size);
            var all = total * streams;
            var grace = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
            while (Interlocked.Read(ref delivered) < all && set.EndedEarly == 0 && Stopwatch.GetTimestamp() < grace)
            {
                await Task.Delay(20);
            }

            var wall = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var cpu = context.Gateway?.CpuTime() - cpuBefore;
            await sampling.CancelAsync();
            await sampler;
            await Task.Delay(500); // late duplicates
            StreamChecks.Opening(set, failures);
            StreamChecks.Delivery(set.Streams, _ => total, failures);
            if (reached < rate * 0.95)
            {
                failures.Add($"the publisher reached only {BenchContext.F(reached, 1)} events/s of {BenchContext.N(rate)}: not the load asked for");
            }

            var p = measured.PercentilesMs(0.5, 0.99, 0.999, 1.0);
            var resources = context.Gateway is null || cpu is null || idle is null
                ? "gateway CPU and memory not measured (no --gateway-pid)"
                : $"gateway CPU {BenchContext.F(cpu.Value.TotalSeconds / wall * 100, 0)}% of one core, RSS {MemorySample.Mb(peakRss)} at most ({MemorySample.Mb(idle.Value.Rss)} before publishing)";
            foreach (var second in measured.WorstSeconds(started + (warmup * Stopwatch.Frequency), 100, 5))
            {
                Log.Line($"fanout: worst second {second}");
            }

            var text = $"{BenchContext.N(Interlocked.Read(ref delivered))}/{BenchContext.N(all)} events delivered in order " +
                $"({BenchContext.N((long)(rate * streams))} SSE events/s written); latency p50 {Ms(p[0])}, p99 {Ms(p[1])}, p99.9 {Ms(p[2])}, max {Ms(p[3])}" +
                (warm.Count > 0 ? $" (warm-up p99 {Ms(warm.PercentilesMs(0.99)[0])})" : "") + $"; {resources}";
            Log.Line($"fanout: {text}");
            bool? met = streams >= 10_000 && rate >= 10 ? p[1] <= 100 : null;
            return new ScenarioResult("fanout", load, text, target, ScenarioResult.Judge(failures, met), failures);
        }
        finally
        {
            await set.CloseAsync();
            await context.Broker.DeleteAsync([TopicPublisher.StreamOf(topic)]);
        }
    }

    private static string Target(int streams, int rate) =>
        streams >= 10_000 && rate >= 10 ? "all delivered, in order; p99 <= 100 ms" : "all delivered, in order";

    private static string Ms(double ms) => $"{BenchContext.F(ms, 1)} ms";
}
