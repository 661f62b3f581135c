using System.Diagnostics;
using Eventsourced.Bench.Amqp;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;
using RabbitMQ.Client;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// live: N open streams; messages published at a fixed total rate, round-robin over the queues, each
/// carrying the publisher's Stopwatch timestamp; latency publish-to-client (parsed event) percentiles.
/// Publishing runs without a break for --warmup and then --duration seconds; every message is checked,
/// the percentiles are those of the --duration part (steady state), the warm-up's p99 is reported next
/// to them: the first seconds include the collection that promotes the streams opened last.
/// </summary>
internal static class LiveScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var streams = options.Streams ?? 10_000;
        var rate = options.Rate ?? 2_000;
        var duration = options.Duration ?? 30;
        var size = options.Size ?? 64;
        var total = (long)(rate * duration);
        var warmup = options.Warmup;
        var load = $"{BenchContext.N(streams)} streams, {BenchContext.N(rate)} msg/s x {BenchContext.F(duration, 0)} s" +
            (warmup > 0 ? $" (after {warmup} s of warm-up)" : "") + $" x {size} B";
        var names = context.QueueNames("live", streams);
        var failures = new List<string>();
        var latencies = new PhasedLatencies(streams, (long)rate * warmup, total);
        var all = latencies.TotalMessages;
        long delivered = 0;
        var set = new StreamSet(context.Connector, names, (stream, seq, stamp, now) =>
        {
            latencies.Record(stream.Index, seq, stamp, now);
            Interlocked.Increment(ref delivered);
        });
        try
        {
            Log.Line($"live {load}: opening streams");
            set.Start();
            await set.WaitSettledAsync(streams, options.Timeout);
            var opened = Stopwatch.GetElapsedTime(set.StartedAt).TotalSeconds;
            StreamChecks.Opening(set, failures);
            if (failures.Count > 0)
            {
                return new ScenarioResult("live", load, "streams did not all open", Target(streams, rate), Verdict.Fail, failures);
            }

            Log.Line($"live: {BenchContext.N(streams)} streams open after {BenchContext.F(opened)} s; publishing after {options.Settle} s");
            // Steady state, not the aftermath of opening 10,000 streams at once (that is the storm scenario).
            var settleCpu = context.Gateway?.CpuTime();
            await Task.Delay(TimeSpan.FromSeconds(options.Settle));
            Log.Line($"live: gateway CPU while settling: {BenchContext.F((context.Gateway?.CpuTime() - settleCpu)?.TotalSeconds ?? double.NaN)} s in {options.Settle} s");
            // This process's own pauses land in the latencies too: count them, so they can be told apart.
            var gcBefore = (Pause: GC.GetTotalPauseDuration(), Gen2: GC.CollectionCount(2), Gen0: GC.CollectionCount(0));
            var cpuBefore = context.Gateway?.CpuTime();
            var publishStart = Stopwatch.GetTimestamp();
            var published = await PublishAsync(context, names, rate, all, size);
            var grace = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
            while (Interlocked.Read(ref delivered) < all && set.EndedEarly == 0 && Stopwatch.GetTimestamp() < grace)
            {
                await Task.Delay(20);
            }

            await Task.Delay(500); // late duplicates
            StreamChecks.Opening(set, failures);
            StreamChecks.Delivery(set.Streams, s => (all / streams) + (s.Index < all % streams ? 1 : 0), failures);
            if (published.Rate < rate * 0.95)
            {
                failures.Add($"the publisher reached only {BenchContext.N((long)published.Rate)} msg/s of {BenchContext.N(rate)}: not the load asked for");
            }

            var gatewayCpu = context.Gateway?.CpuTime() - cpuBefore;
            var p = latencies.Measured.PercentilesMs(0.5, 0.99, 0.999, 1.0);
            Log.Line($"live: this tool's GC during publishing: {GC.CollectionCount(0) - gcBefore.Gen0} gen0, {GC.CollectionCount(2) - gcBefore.Gen2} gen2, " +
                $"{BenchContext.F((GC.GetTotalPauseDuration() - gcBefore.Pause).TotalMilliseconds, 0)} ms paused; gateway CPU {BenchContext.F(gatewayCpu?.TotalSeconds ?? double.NaN)} s; load average {BenchContext.F(ProcessMemory.LoadAverage())}");
            foreach (var second in WorstSeconds(latencies, publishStart, warmup))
            {
                Log.Line($"live: worst second {second}");
            }

            var measured = $"{BenchContext.N(Interlocked.Read(ref delivered))}/{BenchContext.N(all)} delivered at {BenchContext.N((long)published.Rate)} msg/s; " +
                $"latency p50 {Ms(p[0])}, p99 {Ms(p[1])}, p99.9 {Ms(p[2])}, max {Ms(p[3])}{WarmupNote(latencies, warmup)}";
            Log.Line($"live: {measured}");
            await set.CloseAsync();
            if (failures.Count == 0 && options.Baseline)
            {
                measured += $"; broker alone (plain consumers, same load): {await BaselineAsync(context, names, rate, total, size, failures)}";
            }

            bool? met = streams >= 10_000 && rate >= 2_000 ? p[1] <= 20 : null;
            return new ScenarioResult("live", load, measured, Target(streams, rate), ScenarioResult.Judge(failures, met), failures);
        }
        finally
        {
            await set.CloseAsync();
            await context.Broker.DeleteAsync(names);
        }
    }

    /// <summary>
    /// The same queues, rate and payloads consumed by plain AMQP consumers (one channel each, as the gateway
    /// does): the latency the broker and the client library cost on this machine without the gateway.
    /// </summary>
    private static async Task<string> BaselineAsync(BenchContext context, string[] names, int rate, long total, int size, List<string> failures)
    {
        // The gateway lets go of the queues first: its 10,000 channel closes must not land in this measurement.
        var deadline = Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency);
        while ((await context.Broker.StatsAsync(names)).Any(s => s.Consumers > 0) && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(500);
        }

        await context.Broker.PurgeAsync(names);
        var latencies = new PhasedLatencies(names.Length, (long)rate * context.Options.Warmup, total);
        var all = latencies.TotalMessages;
        long delivered = 0;
        await using var connections = await ConsumerConnections.OpenAsync(context.Broker, names.Length, "eventsourced-bench live baseline");
        var opening = Stopwatch.GetTimestamp();
        var consumers = await connections.ConsumeAsync(
            names, context.Options.Prefetch, exclusive: false, (channel, i) => new LatencyConsumer(channel, i, latencies, () => Interlocked.Increment(ref delivered)));
        Log.Line($"live baseline: {BenchContext.N(names.Length)} plain consumers after {BenchContext.F(Stopwatch.GetElapsedTime(opening).TotalSeconds)} s; publishing after {context.Options.Settle} s");
        await Task.Delay(TimeSpan.FromSeconds(context.Options.Settle));
        var publishStart = Stopwatch.GetTimestamp();
        await PublishAsync(context, names, rate, all, size);
        var grace = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (Interlocked.Read(ref delivered) < all && Stopwatch.GetTimestamp() < grace)
        {
            await Task.Delay(20);
        }

        var wrong = consumers.Sum(c => c.Wrong);
        var received = consumers.Sum(c => c.NextSeq);
        if (wrong > 0 || received < all)
        {
            failures.Add($"plain consumers: {BenchContext.N(received)}/{BenchContext.N(all)} in order, {BenchContext.N(wrong)} wrong");
        }

        foreach (var second in WorstSeconds(latencies, publishStart, context.Options.Warmup))
        {
            Log.Line($"live baseline: worst second {second}");
        }

        var p = latencies.Measured.PercentilesMs(0.5, 0.99, 0.999, 1.0);
        var text = $"p50 {Ms(p[0])}, p99 {Ms(p[1])}, p99.9 {Ms(p[2])}, max {Ms(p[3])}{WarmupNote(latencies, context.Options.Warmup)}";
        Log.Line($"live baseline: {text}");
        return text;
    }

    private static string Target(int streams, int rate) => streams >= 10_000 && rate >= 2_000 ? "all delivered, p99 <= 20 ms" : "all delivered";

    private static string Ms(double ms) => $"{BenchContext.F(ms, 1)} ms";

    /// <summary>The worst seconds of the measured part, counted from the end of the warm-up.</summary>
    private static IReadOnlyList<string> WorstSeconds(PhasedLatencies latencies, long publishStart, int warmup)
    {
        var warmupWorst = latencies.Warmup.Count == 0 ? [] : latencies.Warmup.WorstSeconds(publishStart, 20, 0).Take(1).Select(s => "(warm-up) " + s);
        return [.. warmupWorst, .. latencies.Measured.WorstSeconds(publishStart + (warmup * Stopwatch.Frequency), 20, 8)];
    }

    private static string WarmupNote(PhasedLatencies latencies, int warmup) =>
        latencies.Warmup.Count == 0 ? "" : $" (the {warmup} s of warm-up before: p99 {Ms(latencies.Warmup.PercentilesMs(0.99)[0])})";

    /// <summary>Publishes <paramref name="total"/> messages at <paramref name="rate"/> per second; message k goes to queue k mod N.</summary>
    private static async Task<(long Count, double Rate)> PublishAsync(BenchContext context, string[] names, int rate, long total, int size)
    {
        await using var connection = await context.Broker.ConnectAsync("eventsourced-bench publisher");
        await using var channel = await connection.CreateChannelAsync();
        var properties = new BasicProperties();
        var started = Stopwatch.GetTimestamp();
        long sent = 0;
        while (sent < total)
        {
            var due = Math.Min(total, (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * rate) + 1);
            while (sent < due)
            {
                var queue = (int)(sent % names.Length);
                var body = Payload.Create(queue, sent / names.Length, Stopwatch.GetTimestamp(), size);
                await channel.BasicPublishAsync(string.Empty, names[queue], mandatory: false, properties, body);
                sent++;
            }

            await Task.Delay(1);
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await channel.CloseAsync();
        await connection.CloseAsync();
        // The last message is due at (total - 1) / rate: the achieved rate over that span.
        return (sent, total > 1 ? (total - 1) / Math.Max(seconds, 1e-9) : total);
    }
}
