using System.Net.Sockets;
using System.Text;
using Eventsourced.Sockets;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Sockets;

/// <summary>Real TCP connections on loopback: what the client receives, byte for byte, and the kernel's own counts.</summary>
public sealed class DirectChunkWriterTests
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("data: x\n\n", "9\r\ndata: x\n\n\r\n")]
    [InlineData("", "0\r\n\r\n")]
    public void Chunk_IsTheHexLengthTheBytesAndCrLf(string frame, string chunk) =>
        Assert.Equal(chunk, Encoding.ASCII.GetString(DirectChunkWriter.Chunk(Encoding.ASCII.GetBytes(frame))));

    [Fact]
    public void Chunk_OfALongFrame_CountsInHex()
    {
        var chunk = DirectChunkWriter.Chunk(new byte[300]);

        Assert.StartsWith("12c\r\n", Encoding.ASCII.GetString(chunk));
        Assert.Equal(5 + 300 + 2, chunk.Length);
    }

    [Fact]
    public async Task Writes_ReachTheClientWholeAndInOrder()
    {
        using var pair = await SocketPair.CreateAsync();
        var writer = Writer(pair.Server);
        var expected = new List<byte>();
        lock (writer.Sync)
        {
            for (var i = 0; i < 50; i++)
            {
                var chunk = DirectChunkWriter.Chunk(Encoding.ASCII.GetBytes($"data: {i}\n\n"));
                Assert.Equal(DirectWrite.Sent, writer.WriteChunkLocked(chunk));
                expected.AddRange(chunk);
            }

            Assert.Equal(DirectWrite.Sent, writer.WriteFrameLocked(": end\n\n"u8));
            expected.AddRange(Encoding.ASCII.GetBytes("7\r\n: end\n\n\r\n"));
        }

        Assert.Equal(expected, await ReceiveAsync(pair.Client, expected.Count));
        Assert.True(await writer.CloseAsync());
        Assert.True(pair.Server.Blocking); // given back as Kestrel left it
    }

    [Fact]
    public async Task ClientNotReading_WritesWaitInOrder_TheLimitRefusesMore_AndAllGoOutOnceItReads()
    {
        using var pair = await SocketPair.CreateAsync(bufferBytes: 4096);
        var writer = Writer(pair.Server, maxPendingChunks: 8);
        var expected = new List<byte>();
        var results = new List<DirectWrite>();
        for (var i = 0; i < 10_000 && !results.Contains(DirectWrite.Full); i++)
        {
            var chunk = DirectChunkWriter.Chunk(Encoding.ASCII.GetBytes($"data: {i} {new string('x', 1000)}\n\n"));
            DirectWrite result;
            lock (writer.Sync)
            {
                result = writer.WriteChunkLocked(chunk);
            }

            results.Add(result);
            if (result is DirectWrite.Sent or DirectWrite.Queued)
            {
                expected.AddRange(chunk);
            }
        }

        // The kernel's buffers filled, then chunks waited here (at least the eight allowed: the kernel may take a
        // little more as the client's acknowledgements free its buffer), then one was refused.
        Assert.Equal(DirectWrite.Full, results[^1]);
        Assert.True(results.Count(r => r == DirectWrite.Queued) >= 8);
        Assert.True(results.IndexOf(DirectWrite.Queued) > 0);
        Assert.All(results.Take(results.IndexOf(DirectWrite.Queued)), r => Assert.Equal(DirectWrite.Sent, r));

        // The stream's last words go beyond the limit.
        var last = Encoding.ASCII.GetBytes(": stream ended\n\n");
        lock (writer.Sync)
        {
            Assert.Equal(DirectWrite.Queued, writer.WriteFrameLocked(last, overLimit: true));
        }

        expected.AddRange(DirectChunkWriter.Chunk(last));
        var closed = writer.CloseAsync();
        Assert.False(closed.IsCompleted); // it waits for the client

        Assert.Equal(expected, await ReceiveAsync(pair.Client, expected.Count));
        Assert.True(await closed.WaitAsync(TimeSpan.FromSeconds(10)));
        lock (writer.Sync)
        {
            Assert.Equal(DirectWrite.Closed, writer.WriteChunkLocked(DirectChunkWriter.Chunk("late"u8)));
        }

        Assert.True(pair.Server.Blocking);
    }

    [Fact]
    public async Task ClientNotReadingForTheWriteTimeout_TheStreamIsTold_YetNothingIsLostWhenItReadsAgain()
    {
        using var pair = await SocketPair.CreateAsync(bufferBytes: 4096);
        var time = new FakeTimeProvider();
        var failed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var writer = DirectChunkWriter.Over(pair.Server, 1000, WriteTimeout, time, timedOut => failed.TrySetResult(timedOut))!;
        var expected = new List<byte>();
        expected.AddRange(FillUntilQueued(writer));
        lock (writer.Sync)
        {
            // More than the kernel may still take as the client's acknowledgements free its buffer.
            for (var i = 0; i < 32; i++)
            {
                var chunk = DirectChunkWriter.Chunk(Encoding.ASCII.GetBytes($"data: {i} {new string('x', 1000)}\n\n"));
                Assert.Equal(DirectWrite.Queued, writer.WriteChunkLocked(chunk));
                expected.AddRange(chunk);
            }
        }

        // Each send that makes progress starts the stall timer again from the fake clock's now: the kernel must have
        // taken all it will before the clock moves (on a busy machine it took a last few bytes after 100 ms, and the
        // timer then ran from after the first advance).
        await UntilSettledAsync(writer);
        Assert.True(writer.PendingBytes > 0);
        var drained = writer.WhenDrainedAsync();

        time.Advance(WriteTimeout - TimeSpan.FromSeconds(1));
        await Task.Delay(100);
        Assert.False(failed.Task.IsCompleted);
        Assert.False(drained.IsCompleted);

        // Past the timeout: told. On a busy machine the kernel may still have taken a last few bytes after the wait for
        // it to settle, which rightly starts the stall again from then: the clock moves on a second at a time, at most
        // one more write timeout, until the stream is told.
        for (var second = 0; second <= WriteTimeout.TotalSeconds && !failed.Task.IsCompleted; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(failed.Task, Task.Delay(200));
        }

        Assert.True(await failed.Task.WaitAsync(TimeSpan.FromSeconds(10))); // timed out
        Assert.False(await drained.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(writer.TimedOut);

        // Only the stream's last words are taken now; everything waits for a client that reads again.
        var last = DirectChunkWriter.Chunk(": stream ended\n\n"u8);
        lock (writer.Sync)
        {
            Assert.Equal(DirectWrite.Closed, writer.WriteChunkLocked(DirectChunkWriter.Chunk("data: late\n\n"u8)));
            Assert.Equal(DirectWrite.Queued, writer.WriteChunkLocked(last, overLimit: true));
        }

        expected.AddRange(last);
        var closed = writer.CloseAsync();
        await Task.Delay(100);
        Assert.False(closed.IsCompleted);

        Assert.Equal(expected, await ReceiveAsync(pair.Client, expected.Count));
        Assert.True(await closed.WaitAsync(TimeSpan.FromSeconds(10))); // the response may be ended by Kestrel now
        Assert.True(pair.Server.Blocking);
    }

    [Fact]
    public async Task ClientGone_WritesReportClosed()
    {
        using var pair = await SocketPair.CreateAsync();
        var failures = new List<bool>();
        var writer = DirectChunkWriter.Over(pair.Server, 1000, WriteTimeout, TimeProvider.System, failures.Add)!;
        pair.Client.LingerState = new LingerOption(true, 0); // a reset, as from a vanished client
        pair.Client.Close();

        var result = DirectWrite.Sent;
        for (var i = 0; i < 100 && result != DirectWrite.Closed; i++)
        {
            lock (writer.Sync)
            {
                result = writer.WriteChunkLocked(DirectChunkWriter.Chunk("data: x\n\n"u8));
            }

            await Task.Delay(10);
        }

        Assert.Equal(DirectWrite.Closed, result);
        Assert.Equal([false], failures); // the stream is told once: not a timeout
        Assert.False(await writer.CloseAsync());
    }

    [Fact]
    public async Task SocketClosedUnderIt_WritesReportClosed_NothingThrows()
    {
        // Kestrel disposes a connection's socket when the client goes away, maybe before the stream's writer has
        // closed this writer: the feed, writing to thousands of subscribers, must not see an exception.
        using var pair = await SocketPair.CreateAsync();
        var failures = new List<bool>();
        var writer = DirectChunkWriter.Over(pair.Server, 1000, WriteTimeout, TimeProvider.System, failures.Add)!;
        pair.Server.Dispose();

        lock (writer.Sync)
        {
            Assert.Equal(DirectWrite.Closed, writer.WriteChunkLocked(DirectChunkWriter.Chunk("data: x\n\n"u8)));
            Assert.Equal(DirectWrite.Closed, writer.WriteFrameLocked(": heartbeat\n\n"u8));
        }

        Assert.Equal([false], failures);
        Assert.False(await writer.CloseAsync());
    }

    [Fact]
    public async Task LastWrite_CountsMessagesNotHeartbeats()
    {
        using var pair = await SocketPair.CreateAsync();
        var writer = Writer(pair.Server);
        Assert.Equal(long.MinValue, writer.LastWrite);

        lock (writer.Sync)
        {
            writer.WriteFrameLocked(":\n\n"u8, counts: false);
        }

        Assert.Equal(long.MinValue, writer.LastWrite);
        var before = TimeProvider.System.GetTimestamp();
        lock (writer.Sync)
        {
            writer.WriteChunkLocked(DirectChunkWriter.Chunk("data: x\n\n"u8));
        }

        Assert.InRange(writer.LastWrite, before, TimeProvider.System.GetTimestamp());
    }

    [Fact]
    public async Task KernelWritten_CountsEveryByteHandedToTheKernel_AckedOrNot()
    {
        using var pair = await SocketPair.CreateAsync(bufferBytes: 4096);
        Assert.Equal(0L, DirectChunkWriter.KernelWritten(pair.Server));

        await pair.Server.SendAsync(new byte[1000]);
        Assert.Equal(1000L, DirectChunkWriter.KernelWritten(pair.Server));

        // Not read by the client: some of it stays unacknowledged in the send queue, and still counts; of the chunk
        // that had to wait, the kernel may have taken part.
        var writer = Writer(pair.Server);
        var queuedFrom = FillUntilQueued(writer).Count - DirectChunkWriter.Chunk(new byte[1024]).Length;
        var written = DirectChunkWriter.KernelWritten(pair.Server);
        Assert.InRange(written!.Value, 1000 + queuedFrom, 1000 + queuedFrom + 1024 + 7);

        pair.Server.Dispose();
        Assert.Null(DirectChunkWriter.KernelWritten(pair.Server));
    }

    private static DirectChunkWriter Writer(Socket socket, int maxPendingChunks = 1000) =>
        DirectChunkWriter.Over(socket, maxPendingChunks, WriteTimeout, TimeProvider.System, _ => { })!;

    /// <summary>Writes 1 KB chunks until one has to wait; returns every byte written, that one's included.</summary>
    /// <summary>Waits until the writer's waiting bytes stay the same for 300 ms: the kernel takes no more.</summary>
    private static async Task UntilSettledAsync(DirectChunkWriter writer)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var last = writer.PendingBytes;
        var stableSince = DateTime.UtcNow;
        while (DateTime.UtcNow - stableSince < TimeSpan.FromMilliseconds(300))
        {
            Assert.True(DateTime.UtcNow < deadline, "the kernel kept taking bytes for 10 s");
            await Task.Delay(20);
            var now = writer.PendingBytes;
            if (now != last)
            {
                last = now;
                stableSince = DateTime.UtcNow;
            }
        }
    }

    private static List<byte> FillUntilQueued(DirectChunkWriter writer)
    {
        var chunk = DirectChunkWriter.Chunk(new byte[1024]);
        var written = new List<byte>();
        for (var i = 0; i < 10_000; i++)
        {
            lock (writer.Sync)
            {
                var result = writer.WriteChunkLocked(chunk);
                written.AddRange(chunk);
                if (result == DirectWrite.Queued)
                {
                    return written;
                }
            }
        }

        throw new InvalidOperationException("the kernel took 10 MB from a client that does not read");
    }

    private static async Task<List<byte>> ReceiveAsync(Socket client, int count)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new List<byte>(count);
        var buffer = new byte[8192];
        while (received.Count < count)
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (n == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        return received;
    }
}
