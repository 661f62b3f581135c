using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Streams past what a memory limit holds: the published gateway runs with the heap limit of a 256 MiB container
/// (<c>DOTNET_GCHeapHardLimit</c>, which a container's memory limit sets to 75% of it). It ran into the limit with
/// every stream open and aborted ("OutOfMemoryException", then the process gone); new subscriptions are now refused
/// with a 503 near it (<c>limits.max_memory_percent</c>), the open streams carry on, and once they end, new ones are
/// served again. Ending all at once takes memory again (a pinned read buffer per connection, and each ending's own
/// allocations): refused at 75%, 6,536 streams ending together on a busy machine ran the heap out, with
/// <c>OutOfMemoryException</c>s in Kestrel and in the broker connections, and a CI run stayed refusing afterwards;
/// the default is 60% and no <c>OutOfMemoryException</c> may be logged.
/// </summary>
[Collection(BrokerAloneCollection.Name)]
public sealed class MemoryAdmissionTests(BrokerFixture broker)
{
    private const int MostStreams = 12000;

    [Fact]
    public async Task StreamsUpToTheMemoryLimit_NewOnesAre503_OpenOnesGoOn_AndAreServedAgainOnceTheyEnd()
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            // 192 MiB, what a 256 MiB container gives the heap. With much less the collector's budget between two
            // collections takes most of the room: at 96 MiB streams ending together could still run it out.
            ["DOTNET_GCHeapHardLimit"] = "0xC000000",
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(MemoryAdmissionTests));
        var prefix = broker.UniqueQueueName("memory");
        var streams = new List<Socket>();
        string? refusal = null;
        try
        {
            for (var i = 0; i < MostStreams && refusal is null; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                streams.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, port);
                await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /?id={prefix}-{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
                var head = await ReadHeadAsync(socket);
                if (!head.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
                {
                    refusal = head;
                }
            }

            Assert.False(process.HasExited, $"gateway exited:\n{process.Stdout}\n{process.Stderr}");
            Assert.True(refusal is not null, $"{MostStreams} streams opened under a 192 MiB heap limit without a refusal");
            Assert.StartsWith("HTTP/1.1 503", refusal, StringComparison.Ordinal);
            Assert.Contains("X-Status-Reason: gateway memory nearly full\r\n", refusal, StringComparison.Ordinal);
            Assert.Contains("Retry-After: 5\r\n", refusal, StringComparison.Ordinal);
            Assert.True(streams.Count > 100, $"refused at stream {streams.Count}");
            // The console logger writes from a queue of its own: the line may come after the answer.
            static bool Refusing(string line) => line.Contains("[311]", StringComparison.Ordinal) && line.Contains("limits.max_memory_percent (60)", StringComparison.Ordinal);
            await Wait.UntilAsync(() => process.Stdout.Split('\n').Any(Refusing), TimeSpan.FromSeconds(15), "the gateway logs the first memory refusal (event 311)");
            Assert.Single(process.Stdout.Split('\n'), Refusing);

            // An open stream still gets what is published to it.
            await amqp.PublishAsync($"{prefix}-0", "still served");
            var first = streams[0];
            Assert.Contains("data: still served\n\n", await ReadUntilAsync(first, "still served"), StringComparison.Ordinal);
        }
        finally
        {
            streams.ForEach(s => s.Dispose());
        }

        // All of them gone at once: the gateway stays, and serves new subscribers again.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(process.HasExited, $"gateway exited after the streams ended:\n{process.Stdout}\n{process.Stderr}");
        var lastAnswer = "none yet";
        try
        {
            await Wait.UntilAsync(
                async () =>
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"/?id={prefix}-again");
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    lastAnswer = $"{(int)response.StatusCode} {string.Join(", ", response.Headers.TryGetValues("X-Status-Reason", out var reason) ? reason : [])}";
                    return response.StatusCode == HttpStatusCode.OK;
                },
                TimeSpan.FromSeconds(90),
                "a new subscriber served once the streams ended");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; last answer: {lastAnswer}; {streams.Count} streams were open; gateway's log:\n{Tail(process.Stdout)}", e);
        }

        Assert.False(process.HasExited, $"gateway exited:\n{process.Stdout}\n{process.Stderr}");
        Assert.DoesNotContain("OutOfMemoryException", process.Stdout + process.Stderr, StringComparison.Ordinal);
    }

    private static string Tail(string log) => log.Length <= 8000 ? log : log[^8000..];

    private static async Task<string> ReadHeadAsync(Socket socket)
    {
        var text = await ReadUntilAsync(socket, "\r\n\r\n");
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return end < 0 ? text : text[..(end + 4)]; // closed without an answer: what came
    }

    private static async Task<string> ReadUntilAsync(Socket socket, string end)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains(end, StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return received.ToString();
    }
}
