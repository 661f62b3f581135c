using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using RabbitMQ.Client;

namespace Eventsourced.Bench.Scenarios;

/// <summary>
/// churn, a soak: N clients (default 300) each connect to their own queue, read a few seconds and vanish (a FIN,
/// a reset, or a reset in the middle of a message, in turn), then come back at once, for --duration seconds
/// (default 600) while messages flow (--rate, default 200 msg/s). Every 30 s it samples the gateway's resident
/// memory, open descriptors and threads, and the broker's channels, consumers and queues; then the clients
/// leave and it samples again. Target: nothing grows after the first minutes, and everything returns to its
/// idle value. Every answer must be 200 (a reconnect meeting its own stream still ending waits
/// queue.busy_grace rather than getting 503).
/// </summary>
internal static class ChurnScenario
{
    private static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(30);

    public static async Task<ScenarioResult> RunAsync(BenchContext context)
    {
        var options = context.Options;
        var clients = options.Streams ?? 300;
        var duration = TimeSpan.FromSeconds(options.Duration ?? 600);
        var rate = options.Rate ?? 200;
        var size = options.Size ?? 256;
        var load = $"{BenchContext.N(clients)} clients reconnecting for {BenchContext.F(duration.TotalSeconds, 0)} s, {BenchContext.N(rate)} msg/s x {size} B";
        const string Target = "no growth after the first 2 min; back to idle after; every answer 200";
        var names = context.QueueNames("churn", clients);
        var failures = new List<string>();
        var samples = new List<Sample>();
        var counts = new Counts();
        var endpoint = new IPEndPoint(IPAddress.Loopback, options.Gateway.Port);

        var idle = await SampleAsync(context, "idle", TimeSpan.Zero);
        samples.Add(idle);
        Log.Line($"churn: {load}; idle {idle}");
        using var stop = new CancellationTokenSource(duration);
        var started = Stopwatch.GetTimestamp();
        var publisher = PublishAsync(context, names, rate, size, counts, stop.Token);
        var loops = Enumerable.Range(0, clients).Select(i => ClientLoopAsync(endpoint, names[i], i, counts, stop.Token)).ToArray();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(SampleInterval, stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            context.EnsureGatewayAlive();
            var sample = await SampleAsync(context, "churning", Stopwatch.GetElapsedTime(started));
            samples.Add(sample);
            Log.Line($"churn: {sample}; {counts}");
        }

        await Task.WhenAll(loops);
        await publisher;
        samples.Add(await SampleAsync(context, "clients left", Stopwatch.GetElapsedTime(started)));

        // Back to idle: every stream ended, every channel and consumer gone. The queues stay until they expire
        // (queue.expires), as they should for users who come back; this run deletes them and looks again.
        var settle = Stopwatch.StartNew();
        Sample after;
        do
        {
            await Task.Delay(TimeSpan.FromSeconds(5));
            after = await SampleAsync(context, "after", Stopwatch.GetElapsedTime(started));
        }
        while ((after.Consumers > idle.Consumers || after.Channels > idle.Channels || after.Streams > 0) && settle.Elapsed < TimeSpan.FromSeconds(60));

        await context.Broker.DeleteAsync(names);
        after = await SampleAsync(context, "after, queues deleted", Stopwatch.GetElapsedTime(started));
        samples.Add(after);
        Log.Line($"churn: {after}");

        Judge(samples, idle, after, counts, failures);
        var table = Table(samples);
        Log.Line("churn samples:\n" + table);
        if (options.Markdown is { } markdown)
        {
            await File.WriteAllTextAsync(Path.ChangeExtension(markdown, ".churn.md"), table);
        }

        var steady = samples.Where(s => s.Phase == "churning" && s.Elapsed >= TimeSpan.FromMinutes(2)).ToArray();
        var measured = $"{counts}; RSS {Mb(idle.Rss)} idle, {Range(steady, s => Mb(s.Rss))} from minute 2, {Mb(after.Rss)} after; " +
            $"fds {idle.Fds}/{Range(steady, s => s.Fds.ToString())}/{after.Fds}; threads {idle.Threads}/{Range(steady, s => s.Threads.ToString())}/{after.Threads}; " +
            $"broker channels {idle.Channels}/{Range(steady, s => s.Channels.ToString())}/{after.Channels}, consumers {idle.Consumers}/{Range(steady, s => s.Consumers.ToString())}/{after.Consumers}";
        return new ScenarioResult("churn", load, measured, Target, ScenarioResult.Judge(failures, failures.Count == 0 ? true : null), failures);
    }

    /// <summary>One client: connect, read 1-5 s, vanish in the way its turn says, come back at once.</summary>
    private static async Task ClientLoopAsync(IPEndPoint endpoint, string queue, int index, Counts counts, CancellationToken stop)
    {
        var random = new Random(index);
        var request = Encoding.ASCII.GetBytes($"GET /?id={queue} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n");
        var buffer = new byte[16 * 1024];
        var turn = index;
        // Spread the first connects over a second, as real clients would arrive.
        await Task.Delay(random.Next(1000), CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            var way = (Way)(turn++ % 3);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(endpoint, CancellationToken.None);
                await socket.SendAsync(request, SocketFlags.None);
                using var read = new CancellationTokenSource(TimeSpan.FromMilliseconds(1000 + random.Next(4000)));
                var head = new StringBuilder();
                var status = 0;
                var pending = 0; // bytes of an event not yet complete
                try
                {
                    while (true)
                    {
                        var n = await socket.ReceiveAsync(buffer, SocketFlags.None, read.Token);
                        if (n == 0)
                        {
                            Interlocked.Increment(ref counts.EndedByGateway);
                            break;
                        }

                        if (status == 0)
                        {
                            head.Append(Encoding.ASCII.GetString(buffer, 0, Math.Min(n, 64)));
                            status = ParseStatus(head.ToString());
                            if (status is not (0 or 200))
                            {
                                Interlocked.Increment(ref counts.Refused);
                                break;
                            }
                        }

                        var text = buffer.AsSpan(0, n);
                        counts.AddEvents(CountEvents(text));
                        pending = text.EndsWith("\n\n"u8) ? 0 : pending + n;
                        if (way == Way.MidMessage && pending > 0)
                        {
                            break; // vanish with an event half received
                        }
                    }
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested || read.IsCancellationRequested)
                {
                    // Read long enough: vanish now.
                }

                if (status == 200)
                {
                    Interlocked.Increment(ref counts.Streams);
                }

                Vanish(socket, way, counts);
            }
            catch (SocketException)
            {
                Interlocked.Increment(ref counts.Errors);
            }
        }
    }

    private static void Vanish(Socket socket, Way way, Counts counts)
    {
        switch (way)
        {
            case Way.Fin:
                socket.Shutdown(SocketShutdown.Both);
                Interlocked.Increment(ref counts.Fin);
                break;
            default:
                socket.LingerState = new LingerOption(true, 0); // close with a reset
                Interlocked.Increment(ref way == Way.Reset ? ref counts.Reset : ref counts.MidMessage);
                break;
        }

        socket.Close();
    }

    private static int ParseStatus(string head) =>
        head.Length >= 12 && head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(head.AsSpan(9, 3), out var status) ? status : 0;

    private static int CountEvents(ReadOnlySpan<byte> text)
    {
        var events = 0;
        var at = 0;
        while ((at = text.IndexOf("data: "u8)) >= 0)
        {
            events++;
            text = text[(at + 6)..];
        }

        return events;
    }

    private static async Task PublishAsync(BenchContext context, string[] names, int rate, int size, Counts counts, CancellationToken stop)
    {
        await using var connection = await context.Broker.ConnectAsync("eventsourced-bench churn publisher", CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
        var properties = new BasicProperties();
        var random = new Random(42);
        var started = Stopwatch.GetTimestamp();
        long sent = 0;
        while (!stop.IsCancellationRequested)
        {
            var due = (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * rate) + 1;
            while (sent < due)
            {
                var queue = random.Next(names.Length);
                await channel.BasicPublishAsync(string.Empty, names[queue], mandatory: false, properties, Payload.Create(queue, sent, Stopwatch.GetTimestamp(), size), CancellationToken.None);
                sent++;
            }

            await Task.Delay(5, CancellationToken.None);
        }

        Interlocked.Exchange(ref counts.Published, sent);
    }

    private static async Task<Sample> SampleAsync(BenchContext context, string phase, TimeSpan elapsed)
    {
        var memory = context.Gateway?.Read();
        var streams = await DebugVarAsync(context, "streams");
        var channels = await CtlCountAsync(context, "list_channels", "name");
        var consumers = await CtlCountAsync(context, "list_consumers", "queue_name");
        var queues = await CtlCountAsync(context, "list_queues", "name");
        return new Sample(phase, elapsed, memory?.Rss ?? -1, memory?.FileDescriptors ?? -1, memory?.Threads ?? -1, streams, channels, consumers, queues);
    }

    private static async Task<long> DebugVarAsync(BenchContext context, string name)
    {
        try
        {
            using var http = new HttpClient { BaseAddress = context.Options.Gateway, Timeout = TimeSpan.FromSeconds(10) };
            using var document = JsonDocument.Parse(await http.GetStringAsync("/debug/vars"));
            return document.RootElement.GetProperty(name).GetInt64();
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
        {
            return -1;
        }
    }

    /// <summary>Rows of a rabbitmqctl list command (through --broker-ctl), or -1 without it.</summary>
    private static async Task<long> CtlCountAsync(BenchContext context, string command, string column)
    {
        if (context.Options.BrokerCtl is not { } ctl)
        {
            return -1;
        }

        var start = new ProcessStartInfo(ctl) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { command, "-q", column, "--formatter", "json" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            return -1;
        }

        using var document = JsonDocument.Parse(output[output.IndexOf('[', StringComparison.Ordinal)..]);
        return document.RootElement.GetArrayLength();
    }

    private static void Judge(List<Sample> samples, Sample idle, Sample after, Counts counts, List<string> failures)
    {
        if (counts.Refused > 0)
        {
            failures.Add($"{counts.Refused} subscribes answered other than 200");
        }

        if (after.Streams > 0 || after.Channels > idle.Channels || after.Consumers > idle.Consumers || after.Queues > idle.Queues)
        {
            failures.Add($"not back to idle: {after} (idle {idle})");
        }

        if (after.Fds > idle.Fds + 30)
        {
            failures.Add($"descriptors: {after.Fds} after, {idle.Fds} idle");
        }

        // Growth: the last minutes against the minutes after warm-up (2 min in): 10 % on memory, a little slack on counts.
        var steady = samples.Where(s => s.Phase == "churning" && s.Elapsed >= TimeSpan.FromMinutes(2)).ToArray();
        if (steady.Length >= 4)
        {
            var early = steady.Take(steady.Length / 2).ToArray();
            var late = steady.Skip(steady.Length / 2).ToArray();
            if (late.Max(s => s.Rss) > early.Max(s => s.Rss) * 1.10)
            {
                failures.Add($"RSS grew: {Mb(early.Max(s => s.Rss))} then {Mb(late.Max(s => s.Rss))}");
            }

            if (late.Max(s => s.Fds) > early.Max(s => s.Fds) + 50)
            {
                failures.Add($"descriptors grew: {early.Max(s => s.Fds)} then {late.Max(s => s.Fds)}");
            }

            if (late.Max(s => s.Threads) > early.Max(s => s.Threads) + 10)
            {
                failures.Add($"threads grew: {early.Max(s => s.Threads)} then {late.Max(s => s.Threads)}");
            }
        }
    }

    private static string Table(List<Sample> samples)
    {
        var text = new StringBuilder();
        text.AppendLine("| t | phase | gateway RSS | fds | threads | streams | broker channels | consumers | queues |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var s in samples)
        {
            text.AppendLine($"| {s.Elapsed.TotalSeconds:F0} s | {s.Phase} | {Mb(s.Rss)} | {s.Fds} | {s.Threads} | {s.Streams} | {s.Channels} | {s.Consumers} | {s.Queues} |");
        }

        return text.ToString();
    }

    private static string Range(Sample[] samples, Func<Sample, string> value) =>
        samples.Length == 0 ? "-" : $"{value(samples.MinBy(s => s.Elapsed)!)}..{value(samples.MaxBy(s => s.Elapsed)!)}";

    private static string Mb(long bytes) => bytes < 0 ? "-" : MemorySample.Mb(bytes);

    private enum Way
    {
        Fin,
        Reset,
        MidMessage,
    }

    private sealed record Sample(string Phase, TimeSpan Elapsed, long Rss, long Fds, long Threads, long Streams, long Channels, long Consumers, long Queues)
    {
        public override string ToString() =>
            $"RSS {Mb(Rss)}, fds {Fds}, threads {Threads}, streams {Streams}, broker channels {Channels}, consumers {Consumers}, queues {Queues}";
    }

    private sealed class Counts
    {
        public long Streams;
        public long Refused;
        public long Errors;
        public long Fin;
        public long Reset;
        public long MidMessage;
        public long EndedByGateway;
        public long Published;
        private long _events;

        public void AddEvents(int events) => Interlocked.Add(ref _events, events);

        public override string ToString() =>
            $"{BenchContext.N(Interlocked.Read(ref Streams))} streams ({BenchContext.N(Fin)} FIN, {BenchContext.N(Reset)} RST, {BenchContext.N(MidMessage)} mid-message), " +
            $"{BenchContext.N(Refused)} refused, {BenchContext.N(Errors)} socket errors, {BenchContext.N(EndedByGateway)} ended by the gateway, " +
            $"{BenchContext.N(Interlocked.Read(ref _events))} events read";
    }
}
