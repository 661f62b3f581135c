using System.Diagnostics;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// resume: N subscribers of one topic while events flow at --rate for --duration seconds. Each drops its
/// connection once, at a random moment of the middle of the run, stays away (most for under a second, a third
/// long enough that what they missed may no longer be among the recent events the gateway keeps in memory, so
/// they read the stream first) and reconnects with <c>Last-Event-ID</c> as a browser's EventSource does. Across
/// its connections every subscriber must get every event exactly once, in order.
/// </summary>
internal static class ResumeScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var subscribers = options.Streams ?? 1_000;
        var rate = options.Rate ?? 100;
        var duration = options.Duration ?? 30;
        var size = options.Size ?? 64;
        var total = (long)(rate * duration);
        var load = $"{BenchContext.N(subscribers)} subscribers of one topic, {BenchContext.N(rate)} events/s x {BenchContext.F(duration, 0)} s, each reconnecting once with Last-Event-ID";
        const string Target = "0 missed, 0 duplicated";
        var topic = $"bench-{context.RunId}-resume";
        var failures = new List<string>();
        await context.Broker.DeclareStreamAsync(TopicPublisher.StreamOf(topic));
        var first = new StreamSet(context.Connector, Enumerable.Repeat(topic, subscribers).ToArray(), onMessage: null);
        foreach (var stream in first.Streams)
        {
            stream.ExpectedQueue = 0;
            stream.Request = context.Connector.TopicRequest(topic);
        }

        var connections = first.Streams.Select(s => new List<(StreamSet Set, SseStream Stream)> { (first, s) }).ToArray();
        try
        {
            Log.Line($"resume {load}: opening {BenchContext.N(subscribers)} subscribers");
            first.Start();
            await first.WaitSettledAsync(subscribers, options.Timeout);
            StreamChecks.Opening(first, failures);
            if (failures.Count > 0)
            {
                return new ScenarioResult("resume", load, "subscribers did not all open", Target, Verdict.Fail, failures);
            }

            await Task.Delay(TimeSpan.FromSeconds(Math.Min(options.Settle, 5)));
            var catchUpsBefore = await context.GatewayMetricAsync("eventsourced_topic_catchups_total");
            var started = Stopwatch.GetTimestamp();
            var publishing = TopicPublisher.PublishAsync(context, topic, rate, total, size);
            var random = new Random(20261202);
            var plans = Enumerable.Range(0, subscribers).Select(i => (
                Drop: duration * (0.15 + (0.45 * random.NextDouble())),
                Away: i % 3 == 2 ? duration * (0.2 + (0.2 * random.NextDouble())) : random.NextDouble())).ToArray();
            var reconnecting = Enumerable.Range(0, subscribers).Select(i => Task.Run(async () =>
            {
                var (drop, away) = plans[i];
                await Task.Delay(TimeSpan.FromSeconds(drop));
                var (_, old) = connections[i][^1];
                old.Close();
                await Task.Delay(TimeSpan.FromSeconds(away));
                var set = new StreamSet(context.Connector, [topic], onMessage: null);
                var stream = set.Streams[0];
                stream.ExpectedQueue = 0;
                stream.Request = context.Connector.TopicRequest(topic, old.LastEventId >= 0 ? old.LastEventId : null);
                stream.ContinueFrom(old.Received.NextSeq);
                lock (connections[i])
                {
                    connections[i].Add((set, stream));
                }

                set.Start();
            })).ToArray();
            var reached = await publishing;
            await Task.WhenAll(reconnecting);
            var deadline = Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency);
            while (connections.Any(c => c[^1].Stream.Received.NextSeq < total && c[^1].Stream.End == StreamEnd.None) && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(50);
            }

            await Task.Delay(500); // late duplicates
            var catchUps = await context.GatewayMetricAsync("eventsourced_topic_catchups_total") - catchUpsBefore;
            var all = connections.SelectMany(c => c).ToArray();
            foreach (var set in all.Select(c => c.Set).Distinct().Skip(1))
            {
                StreamChecks.Opening(set, failures);
            }

            var notStreaming = all.Count(c => !c.Stream.IsStreaming);
            var endedByGateway = all.Count(c => c.Stream.IsStreaming && c.Stream.End is not (StreamEnd.None or StreamEnd.ClosedByUs));
            var duplicates = all.Sum(c => c.Stream.Received.Duplicates);
            var gaps = all.Sum(c => c.Stream.Received.Gaps);
            var wrong = all.Sum(c => c.Stream.Received.Misrouted + c.Stream.Received.Malformed);
            var missing = connections.Sum(c => Math.Max(0, total - c[^1].Stream.Received.NextSeq));
            if (endedByGateway > 0)
            {
                failures.Add($"{BenchContext.N(endedByGateway)} connections ended by the gateway");
            }

            AddIf(failures, notStreaming, "reconnections not streaming");
            AddIf(failures, duplicates, "events delivered twice");
            AddIf(failures, gaps, "events skipped or out of order");
            AddIf(failures, wrong, "events that are not the published payload");
            AddIf(failures, missing, "events missing at the end");
            if (reached < rate * 0.95)
            {
                failures.Add($"the publisher reached only {BenchContext.F(reached, 1)} events/s of {BenchContext.N(rate)}: not the load asked for");
            }

            var text = $"{BenchContext.N(subscribers)} subscribers x {BenchContext.N(total)} events, {BenchContext.N(all.Length - subscribers)} reconnections " +
                $"({(catchUps is { } c ? BenchContext.N((long)c) : "?")} read the stream first, the rest resumed from memory) in {BenchContext.F(Stopwatch.GetElapsedTime(started).TotalSeconds, 0)} s: " +
                $"{BenchContext.N(missing + gaps)} missed, {BenchContext.N(duplicates)} duplicated";
            Log.Line($"resume: {text}");
            return new ScenarioResult("resume", load, text, Target, ScenarioResult.Judge(failures, subscribers >= 1_000 ? failures.Count == 0 : null), failures);
        }
        finally
        {
            foreach (var set in connections.SelectMany(c => c).Select(c => c.Set).Distinct())
            {
                await set.CloseAsync();
            }

            await context.Broker.DeleteAsync([TopicPublisher.StreamOf(topic)]);
        }
    }

    private static void AddIf(List<string> failures, long count, string what)
    {
        if (count > 0)
        {
            failures.Add($"{BenchContext.N(count)} {what}");
        }
    }
}
