using System.Diagnostics;
using Eventsourced.Bench.Amqp;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Sse;
using RabbitMQ.Client;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// drain: M messages waiting in each of N queues; open N streams at once and time until every stream has
/// all M in order. Then the same load again, drained by plain AMQP consumers measured the same way (from
/// the first subscribe to the last message of the last queue): the broker's own limit on this machine.
/// The ratio is gateway throughput / plain-consumer throughput. A first round of each, checked but not
/// measured, warms both up (just-in-time compilation of a fresh gateway); --warmup 0 skips it. With
/// --token-gateway, each round also drains through that second gateway, which requires tokens, every stream
/// sending its own (--token-secret): the cost of verifying tokens, measured in the same rounds.
/// </summary>
internal static class DrainScenario
{
    public static async Task<ScenarioResult> RunAsync(BenchContext context, int queues, int messages)
    {
        var options = context.Options;
        var size = options.Size ?? 64;
        var load = $"{BenchContext.N(queues)} queues x {BenchContext.N(messages)} msgs x {size} B";
        var names = context.QueueNames($"drain{queues}x{messages}", queues);
        var failures = new List<string>();
        var total = (long)queues * messages;
        var gatewayTimes = new List<double>();
        var gatewayCpu = new List<double>();
        var plainTimes = new List<double>();
        var tokenTimes = new List<double>();
        var tokenGatewayCpu = new List<double>();
        context.Tokens?.Prepare(names);
        await context.Broker.DeclareAsync(names, options.ExpiresSeconds);
        try
        {
            // Gateway and plain runs alternate, so that whatever else the machine does hits both alike.
            for (var round = options.Warmup > 0 ? 0 : 1; round <= options.Repeat && failures.Count == 0; round++)
            {
                await FillAsync(context, names, messages, size);
                var machine = context.Cpu.Take();
                var (gateway, cpu) = await DrainThroughGatewayAsync(context, context.Connector, names, messages, failures);
                var gatewayShares = context.Cpu.Describe(machine, context.Cpu.Take());
                await CheckEmptyAsync(context, names, "gateway", failures);
                context.EnsureGatewayAlive();
                double? withTokens = null;
                if (context.TokenConnector is { } tokenConnector)
                {
                    await FillAsync(context, names, messages, size);
                    machine = context.TokenCpu.Take();
                    (withTokens, var tokenCpu) = await DrainThroughGatewayAsync(context, tokenConnector, names, messages, failures, context.TokenCpu);
                    Log.Line($"drain {load} round {round}: gateway with tokens {Seconds(withTokens)} (its CPU {Seconds(tokenCpu)}; {context.TokenCpu.Describe(machine, context.TokenCpu.Take())})");
                    await CheckEmptyAsync(context, names, "gateway with tokens", failures);
                    if (withTokens is { } t && round > 0)
                    {
                        tokenTimes.Add(t);
                        if (tokenCpu is { } seconds)
                        {
                            tokenGatewayCpu.Add(seconds);
                        }
                    }
                }

                await FillAsync(context, names, messages, size);
                machine = context.Cpu.Take();
                var plain = await DrainWithPlainConsumersAsync(context, names, messages, failures);
                var plainShares = context.Cpu.Describe(machine, context.Cpu.Take());
                await CheckEmptyAsync(context, names, "plain consumers", failures);
                var name = round == 0 ? "warm-up round (not measured)" : $"round {round}";
                Log.Line($"drain {load} {name}: gateway {Seconds(gateway)} (gateway CPU {Seconds(cpu)}; {gatewayShares}), plain {Seconds(plain)} ({plainShares})");
                if (gateway is null || plain is null)
                {
                    break;
                }

                if (round == 0)
                {
                    continue;
                }

                gatewayTimes.Add(gateway.Value);
                plainTimes.Add(plain.Value);
                if (cpu is { } c)
                {
                    gatewayCpu.Add(c);
                }
            }

            var complete = failures.Count == 0 && gatewayTimes.Count == options.Repeat;
            var g = complete ? Median(gatewayTimes) : (double?)null;
            var p = complete ? Median(plainTimes) : (double?)null;
            var ratio = g is > 0 && p is > 0 ? p.Value / g.Value : double.NaN;
            // The issue's targets are for 64-byte messages in these two shapes.
            var target = size != 64 ? null : (queues, messages) switch
            {
                (100, 1000) => 0.75,
                (1000, 100) => 0.6,
                _ => (double?)null,
            };
            var cpuPerMessage = gatewayCpu.Count == options.Repeat ? $", gateway CPU {BenchContext.F(Median(gatewayCpu) * 1e6 / total, 1)} us/msg" : "";
            var measured = $"medians of {options.Repeat}: gateway {Seconds(g)} ({Rate(total, g)}{cpuPerMessage}), plain consumers {Seconds(p)} ({Rate(total, p)}): " +
                $"ratio {BenchContext.F(ratio)}{Spread(gatewayTimes, plainTimes)}";
            if (context.TokenConnector is not null)
            {
                var t = complete && tokenTimes.Count == options.Repeat ? Median(tokenTimes) : (double?)null;
                var tokenCpuPerMessage = tokenGatewayCpu.Count == options.Repeat ? $", gateway CPU {BenchContext.F(Median(tokenGatewayCpu) * 1e6 / total, 1)} us/msg" : "";
                measured += $"; with a token per stream (a second gateway, same rounds): {Seconds(t)} ({Rate(total, t)}{tokenCpuPerMessage}), " +
                    $"{(t is > 0 && g is > 0 ? BenchContext.F(g.Value / t.Value) : "-")} of the throughput without tokens{Spread(tokenTimes, gatewayTimes)}";
            }

            Log.Line($"drain {load}: {measured}");
            return new ScenarioResult(
                "drain", load, measured, target is { } r ? $"ratio >= {BenchContext.F(r)}" : "-",
                ScenarioResult.Judge(failures, target is { } min ? ratio >= min : null), failures);
        }
        finally
        {
            await context.Broker.DeleteAsync(names);
        }
    }

    /// <summary>The worst and best round's ratio, when there were several rounds.</summary>
    private static string Spread(List<double> gateway, List<double> plain)
    {
        if (gateway.Count < 2)
        {
            return "";
        }

        var ratios = gateway.Zip(plain, (g, p) => p / g).Order().ToArray();
        return $" (rounds {BenchContext.F(ratios[0])}-{BenchContext.F(ratios[^1])})";
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static async Task FillAsync(BenchContext context, string[] names, int messages, int size)
    {
        var started = Stopwatch.GetTimestamp();
        await context.Broker.PublishLoadAsync(names, messages, size);
        if (!await context.Broker.WaitForMessagesAsync(names, messages, context.Options.Timeout))
        {
            throw new InvalidOperationException($"the queues did not reach {messages} ready messages each (another consumer?)");
        }

        Log.Line($"drain: published {BenchContext.N((long)names.Length * messages)} messages in {BenchContext.F(Stopwatch.GetElapsedTime(started).TotalSeconds)} s");
    }

    /// <summary>
    /// Seconds from opening the first stream to the last message of the last stream (null when it did not
    /// finish), and the gateway's CPU seconds over the same span (null without --gateway-pid).
    /// </summary>
    private static async Task<(double? Seconds, double? Cpu)> DrainThroughGatewayAsync(
        BenchContext context, SseConnector connector, string[] names, int messages, List<string> failures, CpuShare? cpu = null)
    {
        cpu ??= context.Cpu;
        var remaining = names.Length;
        long finishedAt = 0;
        var firstAt = new long[names.Length];
        var set = new StreamSet(connector, names, (stream, seq, _, now) =>
        {
            if (seq == 0)
            {
                firstAt[stream.Index] = now;
            }

            if (seq == messages - 1 && stream.Received.NextSeq == messages && Interlocked.Decrement(ref remaining) == 0)
            {
                Volatile.Write(ref finishedAt, now);
            }
        });
        try
        {
            var cpuStart = cpu.Take();
            set.Start();
            var deadline = Stopwatch.GetTimestamp() + (long)(context.Options.Timeout.TotalSeconds * Stopwatch.Frequency);
            while (Volatile.Read(ref finishedAt) == 0 && set.Failed == 0 && set.EndedEarly == 0 && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(10);
            }

            var finished = Volatile.Read(ref finishedAt);
            var cpuEnd = cpu.Take();
            var chunks = set.Streams.Sum(s => s.Chunks);
            Log.Line($"drain: the gateway flushed {BenchContext.N(chunks)} times (HTTP chunks) for {BenchContext.N(set.Streams.Sum(s => s.Events))} messages: " +
                $"{BenchContext.F(set.Streams.Sum(s => s.Events) / (double)Math.Max(1, chunks), 1)} messages per flush; " +
                $"first message of half the streams after {FirstMessage(firstAt, set.StartedAt, 0.5)}, of all after {FirstMessage(firstAt, set.StartedAt, 1.0)}; " +
                $"until the last: {cpu.PerMessage(cpuStart, cpuEnd, (long)names.Length * messages)}");
            // Anything more that arrives now is a duplicate; give it a moment to show, and the last acks time to leave.
            await Task.Delay(1000);
            StreamChecks.Opening(set, failures);
            StreamChecks.Delivery(set.Streams, _ => messages, failures);
            if (finished == 0 && failures.Count == 0)
            {
                failures.Add($"gateway: not drained after {context.Options.Timeout.TotalSeconds} s");
            }

            return (finished == 0 ? null : (finished - set.StartedAt) / (double)Stopwatch.Frequency, cpu.GatewaySeconds(cpuStart, cpuEnd));
        }
        finally
        {
            await set.CloseAsync();
        }
    }

    private static async Task<double?> DrainWithPlainConsumersAsync(BenchContext context, string[] names, int messages, List<string> failures)
    {
        var prefetch = context.Options.Prefetch;
        await using var connections = await ConsumerConnections.OpenAsync(context.Broker, names.Length, "eventsourced-bench plain consumers");
        var remaining = names.Length;
        long finishedAt = 0;
        void OnComplete(PlainConsumer consumer)
        {
            if (Interlocked.Decrement(ref remaining) == 0)
            {
                Volatile.Write(ref finishedAt, consumer.CompletedAt);
            }
        }

        var cpuStart = context.Cpu.Take();
        var started = Stopwatch.GetTimestamp();
        var consumers = await connections.ConsumeAsync(
            names, prefetch, exclusive: true, (channel, i) => new PlainConsumer(channel, i, messages, prefetch, OnComplete));
        var deadline = started + (long)(context.Options.Timeout.TotalSeconds * Stopwatch.Frequency);
        while (Volatile.Read(ref finishedAt) == 0 && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(10);
        }

        var finished = Volatile.Read(ref finishedAt);
        Log.Line($"drain: plain consumers until the last: {context.Cpu.PerMessage(cpuStart, context.Cpu.Take(), (long)names.Length * messages)}");
        await Task.Delay(1000);
        long gaps = consumers.Sum(c => c.Received.Gaps), duplicates = consumers.Sum(c => c.Received.Duplicates), wrong = consumers.Sum(c => c.Received.Misrouted + c.Received.Malformed);
        var incomplete = consumers.Count(c => c.Received.NextSeq < messages);
        if (gaps + duplicates + wrong + incomplete > 0)
        {
            failures.Add($"plain consumers: {gaps} skipped, {duplicates} duplicated, {wrong} wrong deliveries, {incomplete} incomplete queues");
        }

        return finished == 0 ? null : (finished - started) / (double)Stopwatch.Frequency;
    }

    /// <summary>After a full drain and a clean close nothing may be left: a message still there was delivered and never acked.</summary>
    private static async Task CheckEmptyAsync(BenchContext context, string[] names, string who, List<string> failures)
    {
        await Task.Delay(1500);
        var left = (await context.Broker.StatsAsync(names)).Sum(s => (long)s.Messages);
        if (left > 0)
        {
            failures.Add($"{who}: {BenchContext.N(left)} delivered messages back in their queues after a clean close (acked late or not at all)");
        }
    }

    /// <summary>When the given share of the streams had their first message, from the start: how much of a run is opening.</summary>
    private static string FirstMessage(long[] firstAt, long startedAt, double share)
    {
        var seen = firstAt.Where(t => t != 0).Order().ToArray();
        return seen.Length == 0 ? "-" : $"{BenchContext.F((NearestRank.Of(seen, share) - startedAt) / (double)Stopwatch.Frequency)} s";
    }

    private static string Seconds(double? seconds) => seconds is { } s ? $"{BenchContext.F(s)} s" : "did not finish";

    private static string Rate(long messages, double? seconds) => seconds is > 0 ? $"{BenchContext.N((long)(messages / seconds.Value))} msg/s" : "-";
}
