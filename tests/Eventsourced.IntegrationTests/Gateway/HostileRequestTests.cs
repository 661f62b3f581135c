using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Eventsourced.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Thousands of random and hostile requests against a live gateway with a real broker: odd bytes in paths, queries,
/// cookies and tokens, huge and numerous headers, slow senders, garbage, subscriptions dropped at once. Every answer
/// is 2xx or 4xx with a reason, never 5xx; a normal client is served throughout; afterwards no stream, channel,
/// consumer or queue is left. The seed is printed, and <c>HOSTILE_SEED</c> replays a run.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class HostileRequestTests(BrokerFixture broker, ITestOutputHelper output)
{
    private const int Requests = 3000;
    private const int Workers = 12;
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Refusals Kestrel makes itself, for requests it cannot parse: no X-Status-Reason, the reason is the status line's.</summary>
    private static readonly int[] ProtocolRefusals = [400, 404, 405, 408, 411, 413, 414, 431, 501];

    [Fact]
    public async Task ThousandsOfHostileRequests_AreAnswered2xxOr4xxWithAReason_AndLeaveNothingBehind()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("HOSTILE_SEED"), out var replay) ? replay : Random.Shared.Next();
        output.WriteLine($"HOSTILE_SEED={seed}");
        var prefix = $"fz{Guid.NewGuid():N}"[..12] + ".";
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Pattern = prefix + "${query:id}";
            o.Queue.ExpiresSeconds = 1; // queues made by the flood vanish a second after their subscriber
            o.Server.HeartbeatSeconds = 1;
            o.Limits.RequestHeadersTimeoutSeconds = 2;
            o.Limits.SubscribesPerSecond = 0;
        });
        var connectionPrefix = gateway.Pool.ConnectionNamePrefix + " #";
        await using var amqp = await broker.ConnectAsync(nameof(HostileRequestTests));

        // The normal client: one stream all along, fed while the flood runs, and a fresh subscription now and then.
        var normalQueue = prefix + "normal";
        await using var normal = await gateway.SubscribeAsync("/?id=normal");
        Assert.Equal(HttpStatusCode.OK, normal.Status);
        using var flooding = new CancellationTokenSource();
        var published = 0;
        var freshFailures = new ConcurrentQueue<string>();
        var stopwatch = Stopwatch.StartNew();
        var feeding = Task.Run(async () =>
        {
            while (!flooding.IsCancellationRequested)
            {
                await amqp.PublishAsync(normalQueue, $"normal {published}");
                published++;
                await using (var fresh = await gateway.SubscribeAsync($"/?id=fresh{published}"))
                {
                    if (fresh.Status != HttpStatusCode.OK)
                    {
                        freshFailures.Enqueue($"fresh subscription {published} answered {(int)fresh.Status} ({fresh.Reason ?? "no reason"}) after {stopwatch.Elapsed.TotalSeconds:0.0}s of the flood");
                    }
                }

                await Task.Delay(200);
            }
        });

        var answers = new ConcurrentDictionary<int, int>();
        var violations = new ConcurrentQueue<string>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(worker => Task.Run(async () =>
        {
            var random = new Random(seed + worker);
            int n;
            while ((n = Interlocked.Increment(ref next)) < Requests)
            {
                var (kind, bytes, slow) = HostileRequest(random, n);
                var answer = await SendAsync(gateway.Port, bytes, slow, random);
                answers.AddOrUpdate(answer.Status, 1, (_, c) => c + 1);
                if (Violation(answer) is { } why)
                {
                    violations.Enqueue($"#{n} {kind}: {why}; request: {Describe(bytes)}");
                }
            }
        })));
        var flood = stopwatch.Elapsed;
        await flooding.CancelAsync();
        await feeding;

        output.WriteLine($"{Requests} requests in {flood.TotalSeconds:0.0}s; answers: {string.Join(", ", answers.OrderBy(a => a.Key).Select(a => $"{(a.Key == 0 ? "closed" : a.Key.ToString(System.Globalization.CultureInfo.InvariantCulture))}: {a.Value}"))}");
        Assert.True(violations.IsEmpty, string.Join("\n", violations.Take(20)));
        Assert.True(freshFailures.IsEmpty, string.Join("\n", freshFailures.Take(5)));
        Assert.True(answers.Keys.Count(k => k is >= 200 and < 300) > 0 && answers.Keys.Count(k => k is >= 400 and < 500) > 2, "the flood should have met streams and several kinds of refusal");
        Assert.Equal(Enumerable.Range(0, published).Select(i => $"normal {i}"), await normal.ReadEventsAsync(published, TimeSpan.FromSeconds(20)));

        // Nothing left behind once the normal client has gone too.
        await normal.DisposeAsync();
        await Wait.UntilAsync(
            async () =>
            {
                using var vars = JsonDocument.Parse(await gateway.Client.GetStringAsync("/debug/vars"));
                return vars.RootElement.GetProperty("streams").GetInt64() == 0 && vars.RootElement.GetProperty("consumers").GetInt64() == 0;
            },
            TimeSpan.FromSeconds(30),
            "no stream and no consumer left in /debug/vars");
        Assert.Equal(0, gateway.Pool.Slots.Sum(s => s.Leases));
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.ChannelCountAsync(connectionPrefix) == 0, TimeSpan.FromSeconds(30), "no channel of the gateway on the broker");
        await Wait.UntilAsync(
            async () => !(await broker.Rabbitmqctl.ListQueuesAsync()).Any(q => q.Name.StartsWith(prefix, StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30),
            "every queue the flood made has expired (none held by a leftover consumer)");
    }

    /// <summary>Why an answer breaks the rules, or null.</summary>
    private static string? Violation(Answer answer) => answer.Status switch
    {
        0 => null, // closed without an answer: a request the server gave up on (slow, cut) is not answered
        >= 500 => $"answered {answer.Status} {answer.ReasonPhrase} ({(answer.Headers.TryGetValue("X-Status-Reason", out var reason) ? reason : "no reason")})",
        >= 200 and < 300 => null,
        >= 400 and < 500 when answer.Headers.ContainsKey("X-Status-Reason") => null,
        >= 400 and < 500 when ProtocolRefusals.Contains(answer.Status) && answer.ReasonPhrase.Length > 0 => null,
        _ => $"answered {answer.Status} {answer.ReasonPhrase} without a reason",
    };

    private static (string Kind, byte[] Request, bool Slow) HostileRequest(Random random, int n)
    {
        var kind = random.Next(12);
        var unique = $"{n}-";
        string Head(string target, string extra = "") => $"GET {target} HTTP/1.1\r\nHost: gateway\r\n{extra}Connection: close\r\n\r\n";
        return kind switch
        {
            0 => ("path bytes", Concat("GET /", RandomBytes(random, 1, 200, exceptLineBreaks: true), $"?id={unique} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), false),
            1 => ("query bytes", Concat($"GET /?id={unique}", RandomBytes(random, 0, 300, exceptLineBreaks: true), " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), false),
            2 => ("escaped query", Ascii(Head($"/?id={unique}{RandomEscapes(random)}&id={RandomEscapes(random)}")), false),
            3 => ("cookie bytes", Concat($"GET /?id={unique} HTTP/1.1\r\nHost: x\r\nCookie: ", RandomBytes(random, 0, 400, exceptLineBreaks: true), "\r\nConnection: close\r\n\r\n"), false),
            4 => ("tokens", Concat($"GET /?id={unique}&access_token={RandomEscapes(random)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", RandomBytes(random, 0, 600, exceptLineBreaks: true), "\r\nConnection: close\r\n\r\n"), false),
            5 => random.Next(2) == 0
                ? ("huge header", Ascii(Head($"/?id={unique}", $"X-Huge: {new string('h', random.Next(30_000, 120_000))}\r\n")), false)
                : ("huge target", Ascii(Head($"/?id={unique}{new string('t', random.Next(9_000, 40_000))}")), false),
            6 => ("many headers", Ascii(Head($"/?id={unique}", string.Concat(Enumerable.Range(0, random.Next(90, 400)).Select(i => $"X-{i}: {i}\r\n")))), false),
            7 => ("slow sender", Ascii(Head($"/?id={unique}slow")), random.Next(4) == 0),
            8 => ("odd request line", Ascii(random.Next(6) switch
            {
                0 => $"FOO /?id={unique} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                1 => $"GET http://evil.example/?id={unique} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                2 => $"GET /?id={unique} HTTP/1.0\r\n\r\n",
                3 => $"GET  /?id={unique}  HTTP/1.1\r\nHost: x\r\n\r\n",
                4 => $"GET /../../etc/passwd?id={unique} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                _ => $"GET *?id={unique} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            }), false),
            9 => ("garbage", RandomBytes(random, 1, 2000, exceptLineBreaks: false).Concat("\r\n\r\n"u8.ToArray()).ToArray(), false),
            10 => ("methods", Ascii($"{new[] { "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE" }[random.Next(7)]} /?id={unique} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), false),
            _ => ("subscribe and drop", Ascii(Head($"/?id={unique}{random.Next()}", "Accept: text/event-stream\r\n")), false),
        };
    }

    private sealed record Answer(int Status, string ReasonPhrase, IReadOnlyDictionary<string, string> Headers);

    private static async Task<Answer> SendAsync(int port, byte[] request, bool slow, Random random)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(AnswerTimeout);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            if (slow)
            {
                // A byte now and then: past limits.request_headers_timeout the server gives up (408, or just closes).
                for (var i = 0; i < request.Length && i < 40; i++)
                {
                    await socket.SendAsync(request.AsMemory(i, 1), timeout.Token);
                    await Task.Delay(random.Next(50, 150), timeout.Token);
                }
            }
            else
            {
                await socket.SendAsync(request, timeout.Token);
            }

            return await ReadHeadAsync(socket, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            // Reset or closed before an answer, or a stream that never answered within the timeout (counted as closed).
            return new Answer(0, ex.GetType().Name, new Dictionary<string, string>());
        }
    }

    private static async Task<Answer> ReadHeadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, cancellationToken);
            if (read == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, read));
            if (IndexOfHeadEnd(received) >= 0)
            {
                break;
            }
        }

        var text = Encoding.Latin1.GetString(received.ToArray());
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return new Answer(0, "no complete head", new Dictionary<string, string>());
        }

        var lines = text[..end].Split("\r\n");
        var status = lines[0].Split(' ', 3);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return new Answer(int.Parse(status[1], System.Globalization.CultureInfo.InvariantCulture), status.Length > 2 ? status[2] : "", headers);
    }

    private static int IndexOfHeadEnd(List<byte> bytes)
    {
        for (var i = 3; i < bytes.Count; i++)
        {
            if (bytes[i - 3] == '\r' && bytes[i - 2] == '\n' && bytes[i - 1] == '\r' && bytes[i] == '\n')
            {
                return i;
            }
        }

        return -1;
    }

    private static byte[] RandomBytes(Random random, int min, int max, bool exceptLineBreaks)
    {
        var bytes = new byte[random.Next(min, max)];
        random.NextBytes(bytes);
        if (exceptLineBreaks)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                if (bytes[i] is (byte)'\r' or (byte)'\n')
                {
                    bytes[i] = (byte)'x';
                }
            }
        }

        return bytes;
    }

    /// <summary>Percent-escapes of anything (control characters, invalid UTF-8, bidi overrides), some of them broken.</summary>
    private static string RandomEscapes(Random random)
    {
        var text = new StringBuilder();
        for (var i = random.Next(0, 40); i > 0; i--)
        {
            text.Append(random.Next(5) switch
            {
                0 => $"%{random.Next(256):X2}",
                1 => "%E2%80%AE", // right-to-left override
                2 => "%" + (char)random.Next('G', 'Z'),
                3 => "%",
                _ => ((char)random.Next('a', 'z')).ToString(),
            });
        }

        return text.ToString();
    }

    private static byte[] Ascii(string text) => Encoding.Latin1.GetBytes(text);

    private static byte[] Concat(string head, byte[] middle, string tail) => [.. Ascii(head), .. middle, .. Ascii(tail)];

    private static string Describe(byte[] request) =>
        string.Concat(request.Take(160).Select(b => b is >= 0x20 and < 0x7f ? ((char)b).ToString() : $"\\x{b:x2}"));
}
