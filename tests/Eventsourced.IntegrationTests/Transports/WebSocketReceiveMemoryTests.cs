using System.Buffers;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>
/// What a WebSocket connection holds after the client sent one large message: the buffer its frames were put together
/// in went back to the pool when the message was read, not when the connection ends. Before, every connection that had
/// ever sent a message over 256 bytes kept the buffer of its largest (up to twice <c>ws.max_message_size</c>) for its
/// whole life: 400 connections that sent one 60,000-byte ping each held 26 MB more heap, which memory admission
/// (<c>limits.max_memory_percent</c>) counts against everyone's new subscriptions. Runs alone: it measures the heap
/// this process shares with the in-process gateway.
/// </summary>
[Collection(BrokerAloneCollection.Name)]
public sealed class WebSocketReceiveMemoryTests(BrokerFixture broker)
{
    private const int Connections = 512;
    private const int LargeMessage = 60_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task LargeMessageReceived_ItsBufferIsNotHeldByTheConnectionAfterwards()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var prefix = broker.UniqueQueueName(nameof(WebSocketReceiveMemoryTests));
        var large = $"{{\"ping\": \"{new string('a', LargeMessage)}\"}}";
        var sockets = new List<WebSocketClient>();
        try
        {
            // As many connections first that each send one large message and end: the server's own pools (Kestrel's
            // blocks for what the sockets read) grow to what the measured round needs, and they are not what is measured.
            await ConnectAsync(gateway, $"{prefix}-w", sockets);
            await Task.WhenAll(sockets.Select(ws => ws.SendAsync(large)));
            await Task.WhenAll(sockets.Select(ws => ws.ReceiveAnswersAsync(1, Timeout)));
            foreach (var ws in sockets)
            {
                await ws.CloseAsync();
                await ws.DisposeAsync();
            }

            sockets.Clear();
            await ConnectAsync(gateway, prefix, sockets);
            await Task.WhenAll(sockets.Select(ws => ws.SendAsync("{\"ping\": 1}")));
            await Task.WhenAll(sockets.Select(ws => ws.ReceiveAnswersAsync(1, Timeout)));
            FillThePool();

            // What one small message each costs this process (the clients keep every answer they read, ...): the
            // baseline the large ones are measured against.
            var start = GC.GetTotalMemory(forceFullCollection: true);
            await Task.WhenAll(sockets.Select(ws => ws.SendAsync("{\"ping\": 2}")));
            await Task.WhenAll(sockets.Select(ws => ws.ReceiveAnswersAsync(2, Timeout)));
            var small = GC.GetTotalMemory(forceFullCollection: true) - start;

            start = GC.GetTotalMemory(forceFullCollection: true);
            await Task.WhenAll(sockets.Select(ws => ws.SendAsync(large)));
            var answers = await Task.WhenAll(sockets.Select(ws => ws.ReceiveAnswersAsync(3, Timeout)));
            var grown = GC.GetTotalMemory(forceFullCollection: true) - start;
            Assert.All(answers, a => Assert.Equal("{\"pong\":null}", a[2].GetRawText()));

            // Held, each connection's buffer is a 64 KiB array: 32 MiB for the 512. The pool was full before, so what
            // the readers gave back is not kept there either.
            Assert.True(grown - small < Connections * 65_536L / 2,
                $"the heap grew by {grown / 1024} KiB after {Connections} connections sent one {LargeMessage}-byte message each, against {small / 1024} KiB for a small one each");
            Assert.All(sockets, ws => Assert.False(ws.Ended, $"a connection ended: {ws.CloseStatus} {ws.CloseDescription}"));
        }
        finally
        {
            foreach (var ws in sockets)
            {
                await ws.DisposeAsync();
            }
        }
    }

    private static async Task ConnectAsync(GatewayServer gateway, string prefix, List<WebSocketClient> sockets)
    {
        for (var i = 0; i < Connections; i++)
        {
            var ws = await gateway.ConnectWebSocketAsync($"/ws?id={prefix}-{i}");
            sockets.Add(ws);
            Assert.True(ws.Connected, $"connection {i}: {ws.Status} {ws.Reason}");
        }
    }

    // The shared pool keeps a few arrays of each size per core: filled to the brim now, every array returned during
    // the measurement is dropped (garbage) instead of kept (live), whichever happens to the connections' buffers.
    private static void FillThePool()
    {
        for (var size = 256; size <= 131_072; size *= 2)
        {
            var rented = Enumerable.Range(0, 256).Select(_ => ArrayPool<byte>.Shared.Rent(size)).ToList();
            foreach (var array in rented)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
