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
[Collection(BrokerCollection.Name)]
public sealed class SlowReaderMemoryTests(BrokerFixture broker)
{
    private const int Streams = 4;
    private const int MessagesEach = 70;

    [Fact]
    public async Task ClientsThatStopReading_WhileLargeMessagesCome_AreEndedBeforeTheHeapRunsOut_NothingLost()
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["DOTNET_GCHeapHardLimit"] = "0xC000000",
            // Through the stream's own buffer and Kestrel (as over TLS, HTTP/2 and WebSockets), not straight to the
            // socket; a flush may wait long, so that the streams are still there when the heap fills.
            ["EVENTSOURCED_SSE__DIRECT_WRITES"] = "false",
            ["EVENTSOURCED_SERVER__WRITE_TIMEOUT"] = "300",
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(SlowReaderMemoryTests));
        var prefix = broker.UniqueQueueName("slow-memory");
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < Streams; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                sockets.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, port);
                await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /?id={prefix}-{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
                var head = new byte[256];
                var read = await socket.ReceiveAsync(head);
                Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(head, 0, read), StringComparison.Ordinal);
            }

            // Then nobody reads.
            var body = new byte[1_000_000];
            body.AsSpan().Fill((byte)'a');
            for (var m = 0; m < MessagesEach; m++)
            {
                await Task.WhenAll(Enumerable.Range(0, Streams).Select(i => amqp.PublishAsync($"{prefix}-{i}", body)));
            }

            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.False(process.HasExited, $"gateway exited:\n{process.Stdout}\n{process.Stderr}");
            Assert.DoesNotContain("OutOfMemoryException", process.Stdout + process.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Lost connection", process.Stdout, StringComparison.Ordinal);

            // Each client, reading now, gets what its kernel had taken and then the reason its stream ended.
            foreach (var socket in sockets)
            {
                var tail = await ReadToEndAsync(socket);
                Assert.Contains(": stream ended: gateway memory nearly full while the client was behind\n\n", tail, StringComparison.Ordinal);
            }
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }

        // Nothing acknowledged was lost: every message is in its queue again or was written to its client.
        for (var i = 0; i < Streams; i++)
        {
            var queue = $"{prefix}-{i}";
            await Wait.UntilAsync(async () => await amqp.ConsumerCountAsync(queue) == 0, TimeSpan.FromSeconds(30), $"{queue} free again");
            Assert.True(await amqp.MessageCountAsync(queue) >= MessagesEach - 10, $"{queue}: {await amqp.MessageCountAsync(queue)} messages left");
            await amqp.DeleteQueueAsync(queue);
        }

        Assert.DoesNotContain("OutOfMemoryException", process.Stdout + process.Stderr, StringComparison.Ordinal);
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
