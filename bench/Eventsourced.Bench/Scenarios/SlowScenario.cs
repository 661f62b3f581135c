using System.Diagnostics;
using System.Text;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;
using RabbitMQ.Client;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// slow: N clients read for a few seconds and then stop reading (sockets left open) while messages keep
/// flowing to their queues. Measured: the gateway's RSS over time, whether and when the gateway ends each
/// stalled stream (its consumer disappears from the queue), and afterwards, when the clients read again,
/// what reached them: published = received + left in the queue, or messages were acked and lost.
/// </summary>
internal static class SlowScenario
{
    private static readonly TimeSpan ReadFirst = TimeSpan.FromSeconds(3);

    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var streams = options.Streams ?? 100;
        var rate = options.Rate ?? 2_000;
        var size = options.Size ?? 16 * 1024;
        var duration = TimeSpan.FromSeconds(options.Duration ?? 90);
        var load = $"{BenchContext.N(streams)} clients stop reading after {ReadFirst.TotalSeconds:0} s; {BenchContext.N(rate)} msg/s x {BenchContext.N(size)} B over them, up to {duration.TotalSeconds:0} s";
        const string target = "stalled streams ended, backlog bounded, nothing acked is lost";
        var names = context.QueueNames("slow", streams);
        var failures = new List<string>();
        var set = new StreamSet(context.Connector, names, onMessage: null);
        var published = new long[streams];
        var stopped = new int[streams];
        var endedAfter = new double[streams];
        using var stopPublishing = new CancellationTokenSource();
        Task? publisher = null;
        try
        {
            set.Start();
            await set.WaitSettledAsync(streams, options.Timeout);
            StreamChecks.Opening(set, failures);
            if (failures.Count > 0)
            {
                return new ScenarioResult("slow", load, "streams did not all open", target, Verdict.Fail, failures);
            }

            var baseline = context.Gateway is { } g ? await g.SettleAsync(TimeSpan.FromSeconds(10)) : default;
            var series = new List<(double Seconds, long Rss)>();
            publisher = PublishAsync(context, names, rate, size, published, stopped, stopPublishing.Token);
            var started = Stopwatch.GetTimestamp();
            long pausedAt = 0;
            var bytesAtPause = new long[streams];
            var ended = 0;
            Log.Line($"slow: {load}");
            while (true)
            {
                await Task.Delay(1000);
                var now = Stopwatch.GetElapsedTime(started);
                if (context.Gateway is { } gateway)
                {
                    var rss = gateway.Read().Rss;
                    series.Add((now.TotalSeconds, rss));
                }

                if (publisher.IsFaulted)
                {
                    await publisher;
                }

                if (pausedAt == 0)
                {
                    if (now >= ReadFirst)
                    {
                        set.Pause();
                        pausedAt = Stopwatch.GetTimestamp();
                        for (var i = 0; i < streams; i++)
                        {
                            bytesAtPause[i] = set.Streams[i].BytesReceived;
                        }

                        Log.Line($"slow: clients stopped reading after {BenchContext.F(now.TotalSeconds, 1)} s, {MemorySample.Mb(bytesAtPause.Sum())} read so far");
                    }

                    continue;
                }

                var stats = await context.Broker.StatsAsync(names);
                for (var i = 0; i < streams; i++)
                {
                    if (stats[i].Consumers == 0 && Volatile.Read(ref stopped[i]) == 0)
                    {
                        Volatile.Write(ref stopped[i], 1);
                        endedAfter[i] = Stopwatch.GetElapsedTime(pausedAt).TotalSeconds;
                        ended++;
                    }
                }

                if ((int)now.TotalSeconds % 5 == 0)
                {
                    Log.Line($"slow: t={now.TotalSeconds:0} s: gateway RSS {(series.Count > 0 ? MemorySample.Mb(series[^1].Rss) : "?")}, {ended}/{streams} stalled streams ended, {BenchContext.N(published.Sum())} published");
                }

                if (ended == streams || now >= duration)
                {
                    break;
                }
            }

            await stopPublishing.CancelAsync();
            await publisher;
            var stalledFor = Stopwatch.GetElapsedTime(pausedAt).TotalSeconds;

            // Read again: what the kernel buffers held arrives, then the end of each stream the gateway ended.
            set.Resume();
            var deadline = Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency);
            while (set.Streams.Where((_, i) => stopped[i] != 0).Any(s => s.End == StreamEnd.None) && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(100);
            }

            await Task.Delay(2000); // streams the gateway did not end catch up a little before we close them
            await set.CloseAsync();
            await Task.Delay(2000);
            var left = await context.Broker.StatsAsync(names);

            long lost = 0, requeuedAndReceived = 0, leftInQueues = 0, readAfterResume = 0;
            var endings = new Dictionary<StreamEnd, int>();
            for (var i = 0; i < streams; i++)
            {
                var s = set.Streams[i];
                if (stopped[i] == 0)
                {
                    continue;
                }

                endings[s.End] = endings.GetValueOrDefault(s.End) + 1;
                readAfterResume += s.BytesReceived - bytesAtPause[i];
                var balance = published[i] - s.Received.NextSeq - left[i].Messages;
                leftInQueues += left[i].Messages;
                if (balance > 0)
                {
                    lost += balance;
                }
                else
                {
                    requeuedAndReceived -= balance;
                }
            }

            StreamChecks.Delivery(set.Streams, _ => 0, failures);
            if (lost > 0)
            {
                failures.Add($"{BenchContext.N(lost)} messages acked by the gateway never reached their client (published - received - left in queue)");
            }

            var measured = new StringBuilder();
            var times = endedAfter.Where((_, i) => stopped[i] != 0).Order().ToArray();
            measured.Append(ended == streams
                ? $"gateway ended all {streams} stalled streams {BenchContext.F(times[0], 0)}-{BenchContext.F(times[^1], 0)} s after they stopped reading"
                : $"gateway ended {ended} of {streams} stalled streams within {BenchContext.F(stalledFor, 0)} s");
            if (ended > 0)
            {
                measured.Append($" ({string.Join(", ", endings.OrderByDescending(e => e.Value).Select(e => $"{e.Value} {Describe(e.Key)}"))})");
                measured.Append($"; reading again, each client got {MemorySample.Mb(readAfterResume / ended)} more");
                measured.Append($"; {BenchContext.N(leftInQueues)} messages in their queues afterwards, {BenchContext.N(requeuedAndReceived)} of them also received");
                measured.Append($"; {BenchContext.N(lost)} acked messages lost ({MemorySample.Mb(lost * (size + 8) / ended)} per stream)");
            }

            if (series.Count > 0)
            {
                // The heap an earlier scenario left may be collected meanwhile: the floor is the lowest reading
                // before the stalled streams could have filled up, not one reading before the start.
                var floor = Math.Min(baseline.Rss, series.Where(s => s.Seconds <= ReadFirst.TotalSeconds + 3).Min(s => s.Rss));
                var peak = series.Max(s => s.Rss);
                measured.Append($"; gateway RSS {MemorySample.Mb(floor)} -> peak {MemorySample.Mb(peak)} (+{MemorySample.Mb((peak - floor) / streams)} per stalled stream)");
                measured.Append($", at t=10/20/40/60 s: {string.Join(" / ", new[] { 10, 20, 40, 60 }.Select(t => series.LastOrDefault(s => s.Seconds <= t + 0.5) is { Rss: > 0 } x ? MemorySample.Mb(x.Rss) : "-"))}");
            }

            Log.Line($"slow: {measured}");
            return new ScenarioResult("slow", load, measured.ToString(), target, ScenarioResult.Judge(failures, ended == streams), failures);
        }
        finally
        {
            await stopPublishing.CancelAsync();
            if (publisher is not null)
            {
                try
                {
                    await publisher;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Log.Line($"slow: publisher: {ex.Message}");
                }
            }

            await set.CloseAsync();
            await context.Broker.DeleteAsync(names);
        }
    }

    private static string Describe(StreamEnd end) => end switch
    {
        StreamEnd.Closed => "closed (FIN)",
        StreamEnd.Reset => "reset (RST)",
        StreamEnd.Finished => "finished (last chunk)",
        StreamEnd.None => "still open after reading again",
        _ => end.ToString(),
    };

    /// <summary>Round-robin at <paramref name="rate"/> over the queues whose stream is not known to have ended.</summary>
    private static async Task PublishAsync(
        BenchContext context, string[] names, int rate, int size, long[] published, int[] stopped, CancellationToken cancellationToken)
    {
        await using var connection = await context.Broker.ConnectAsync("eventsourced-bench slow publisher", CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        var properties = new BasicProperties();
        var started = Stopwatch.GetTimestamp();
        long k = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var due = (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * rate) + 1;
            while (k < due)
            {
                var queue = (int)(k++ % names.Length);
                if (Volatile.Read(ref stopped[queue]) != 0)
                {
                    continue;
                }

                var seq = published[queue];
                await channel.BasicPublishAsync(string.Empty, names[queue], mandatory: false, properties, Payload.Create(queue, seq, Stopwatch.GetTimestamp(), size), CancellationToken.None);
                Volatile.Write(ref published[queue], seq + 1);
            }

            try
            {
                await Task.Delay(1, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await channel.CloseAsync(CancellationToken.None);
        await connection.CloseAsync(CancellationToken.None);
    }
}
