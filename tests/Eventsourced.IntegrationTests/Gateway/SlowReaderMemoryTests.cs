using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Clients that stop reading while large messages come to their queues, under the heap limit of a 256 MiB container
/// (<c>DOTNET_GCHeapHardLimit</c> 192 MiB). Each stream may buffer <c>queue.max_buffered_bytes</c> (64 MiB, 64 messages
/// of up to 1 MiB), which memory admission cannot foresee when it lets the stream in: four such clients and 70 messages
/// of 1 MB for each ran the heap out (<c>OutOfMemoryException</c> in the broker connection, lost with every stream on
/// it). Streams whose client is behind are now ended when the heap's live objects pass halfway from
/// <c>limits.max_memory_percent</c> to the limit, and what they held goes back to the queue.
/// </summary>
[Collection(BrokerAloneCollection.Name)]
public sealed class SlowReaderMemoryTests(BrokerFixture broker)
{
    private const int Streams = 4;
    private const int MessagesEach = 70;

    /// <summary>The comment that ends a stream for memory (then the chunked response's end).</summary>
    private const string MemoryFullEnd = ": stream ended: gateway memory nearly full while the client was behind\n\n";

    [Fact]
    public async Task ClientsThatStopReading_WhileLargeMessagesCome_AreEndedBeforeTheHeapRunsOut_NothingLost()
    {
        var port = FreePort.Next();
        await using var process = StartCapped(port);
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(SlowReaderMemoryTests));
        var prefix = broker.UniqueQueueName("slow-memory");
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < Streams; i++)
            {
                sockets.Add(await OpenStalledStreamAsync(port, $"/?id={prefix}-{i}"));
            }

            // Then nobody reads.
            var body = new byte[1_000_000];
            body.AsSpan().Fill((byte)'a');
            for (var m = 0; m < MessagesEach; m++)
            {
                await Task.WhenAll(Enumerable.Range(0, Streams).Select(i => amqp.PublishAsync($"{prefix}-{i}", body)));
            }

            await AssertEndedForMemoryAsync(process, sockets);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }

        // Nothing acknowledged was lost: every message is in its queue again or was written to its client.
        for (var i = 0; i < Streams; i++)
        {
            var queue = $"{prefix}-{i}";
            await amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(30), $"{queue} free again");
            Assert.True(await amqp.MessageCountAsync(queue) >= MessagesEach - 10, $"{queue}: {await amqp.MessageCountAsync(queue)} messages left");
            await amqp.DeleteQueueAsync(queue);
        }

        Assert.DoesNotContain("OutOfMemoryException", process.Stdout + process.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Topic subscribers that stop reading while events of 1 MB come: a topic's events are shared among its subscribers,
    /// but each subscriber's buffer may hold <c>topics.buffer</c> of them (256: twice the heap here, with each event's SSE
    /// frame). A subscriber behind while the heap is nearly full is now ended as a queue's stream is, and what waited for it
    /// let go; it resumes from its last id when it reconnects.
    /// </summary>
    [Fact]
    public async Task TopicSubscribersThatStopReading_WhileLargeEventsCome_AreEndedBeforeTheHeapRunsOut()
    {
        const int Subscribers = 2;
        const int Events = 300;
        var port = FreePort.Next();
        await using var process = StartCapped(port);
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(SlowReaderMemoryTests));
        var topic = broker.UniqueQueueName("slow-memory-topic");
        var stream = Eventsourced.Topics.TopicOptions.DefaultPrefix + topic;
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < Subscribers; i++)
            {
                sockets.Add(await OpenStalledStreamAsync(port, $"/topics/{topic}"));
            }

            // Then nobody reads.
            var body = new byte[1_000_000];
            body.AsSpan().Fill((byte)'b');
            for (var e = 0; e < Events; e++)
            {
                await amqp.PublishAsync(stream, body);
            }

            // Once one is ended, the heap has room again for the other, which may then be handed every event: at least one
            // ended (the two together would have needed three times the heap).
            await AssertGatewayLivedAsync(process);
            var tails = new List<string>();
            foreach (var socket in sockets)
            {
                tails.Add(await ReadToEndAsync(socket));
            }

            Assert.Contains(tails, tail => tail.EndsWith(MemoryFullEnd + "\r\n0\r\n\r\n", StringComparison.Ordinal));
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
            await amqp.DeleteQueueAsync(stream);
        }

        Assert.DoesNotContain("OutOfMemoryException", process.Stdout + process.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A gateway on <paramref name="port"/> under the heap limit of a 256 MiB container.</summary>
    private GatewayProcess StartCapped(int port) => GatewayProcess.Start(new Dictionary<string, string>
    {
        ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
        ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
        ["DOTNET_GCHeapHardLimit"] = "0xC000000",
        // Through the stream's own buffer and Kestrel (as over TLS, HTTP/2 and WebSockets), not straight to the
        // socket; a flush may wait long, so that the streams are still there when the heap fills.
        ["EVENTSOURCED_SSE__DIRECT_WRITES"] = "false",
        ["EVENTSOURCED_SERVER__WRITE_TIMEOUT"] = "300",
    });

    /// <summary>Opens an SSE stream of <paramref name="target"/> with a small receive buffer, reads its head, and reads no further.</summary>
    private static async Task<Socket> OpenStalledStreamAsync(int port, string target)
    {
        var socket = await RawHttp.OpenNotReadingAsync(port, target);
        try
        {
            var head = new byte[256];
            var read = await socket.ReceiveAsync(head);
            Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(head, 0, read), StringComparison.Ordinal);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The gateway lived through it, and each client, reading now, gets what its kernel had taken and then the reason its stream ended.</summary>
    private static async Task AssertEndedForMemoryAsync(GatewayProcess process, List<Socket> sockets)
    {
        await AssertGatewayLivedAsync(process);
        foreach (var socket in sockets)
        {
            var tail = await ReadToEndAsync(socket);
            Assert.Contains(MemoryFullEnd, tail, StringComparison.Ordinal);
        }
    }

    /// <summary>A few seconds after the last publish, the gateway runs, and neither ran out of memory nor lost its broker connection.</summary>
    private static async Task AssertGatewayLivedAsync(GatewayProcess process)
    {
        await Task.Delay(TimeSpan.FromSeconds(3));
        var said = process.Stdout + process.Stderr;
        Assert.False(process.HasExited, $"gateway exited:\n{said}");
        Assert.False(said.Contains("OutOfMemoryException", StringComparison.Ordinal), $"gateway ran out of memory:\n{said}");
        Assert.False(said.Contains("Lost connection", StringComparison.Ordinal), $"gateway lost its broker connection:\n{said}");
    }

    /// <summary>Reads until the connection ends or stays silent; returns the last bytes as text (the stream's end).</summary>
    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        var buffer = new byte[1 << 20];
        var tail = new StringBuilder();
        while (true)
        {
            using var silence = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, silence.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            tail.Append(Encoding.ASCII.GetString(buffer, 0, read));
            if (tail.Length > 4096)
            {
                tail.Remove(0, tail.Length - 4096);
            }
        }

        return tail.ToString();
    }
}
