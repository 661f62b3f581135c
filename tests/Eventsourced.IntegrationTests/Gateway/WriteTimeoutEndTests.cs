using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A stream the gateway ends because its client stopped reading (<c>server.write_timeout</c>) is ended, not reset:
/// a client that reads again gets what was queued for it, the end comment, the end of the chunked response and a
/// FIN, where a reset would have thrown away even what its own kernel had already received.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class WriteTimeoutEndTests(BrokerFixture broker)
{
    [Theory]
    [InlineData(true)] // written straight to the socket (sse.direct_writes)
    [InlineData(false)] // written by Kestrel
    public async Task StreamEndedByTheWriteTimeout_EndsCleanly_WithTheReason(bool directWrites)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.WriteTimeoutSeconds = 3;
            o.Queue.Prefetch = 200; // more in flight than the socket buffers take, so that a flush blocks
            o.Sse.DirectWrites = directWrites;
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(WriteTimeoutEndTests));
        var queue = broker.UniqueQueueName(nameof(WriteTimeoutEndTests));

        using var socket = await RawHttp.OpenNotReadingAsync(gateway.Port, $"/?id={queue}");
        await amqp.UntilConsumersAsync(queue, 1, TimeSpan.FromSeconds(15), "subscribed");

        // Far more than the socket buffers hold, and never read until the gateway has given up on the stream.
        var body = new string('x', 96 * 1024);
        for (var i = 0; i < 150; i++)
        {
            await amqp.PublishAsync(queue, $"{i:D5}{body}");
        }

        await Wait.UntilAsync(() => gateway.Pool.Slots.Sum(s => s.Leases) == 0, TimeSpan.FromSeconds(30), "the stalled stream ended");

        // Now read everything: no reset, the reason, the chunked terminator, then the end of the connection (FIN).
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        int n;
        try
        {
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex)
        {
            var t = Encoding.UTF8.GetString(received.ToArray());
            throw new Xunit.Sdk.XunitException($"{ex.Message} after {received.Length} bytes: the stream was reset, not ended; ending: {t[^Math.Min(200, t.Length)..]}");
        }

        var text = Encoding.UTF8.GetString(received.ToArray());
        Assert.Equal(directWrites ? 1 : 0, await gateway.MetricAsync("eventsourced_direct_write_streams_total"));
        Assert.StartsWith("HTTP/1.1 200 OK", text, StringComparison.Ordinal);
        Assert.Contains(": stream ended: client not reading (write timeout)\n\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n0\r\n\r\n", text, StringComparison.Ordinal);
    }
}
