using System.IO.Pipelines;
using Eventsourced.Sockets;

namespace Eventsourced.Tests.Sockets;

public sealed class Http2FrameCounterTests
{
    [Fact]
    public async Task AFollowedStreamsDataPayload_CountsOnceAFlushHasTakenItToTheTransport_AtTheTransportsCountThen()
    {
        var transport = new Transport();
        var writer = new Http2FrameCounter.FramesWriter(new Pipe().Writer, transport);
        using var stream = writer.Follow(1);

        Write(writer, Frame(type: 0x4, streamId: 0, payload: 6)); // SETTINGS
        Write(writer, Frame(type: 0x1, streamId: 1, payload: 10)); // HEADERS of the followed stream: not its body
        var data = Frame(type: 0x0, streamId: 1, payload: 100);
        Write(writer, data[..5]); // a frame header split across writes
        Write(writer, data[5..40]);
        Write(writer, data[40..]);
        Write(writer, Frame(type: 0x0, streamId: 3, payload: 50)); // another stream's DATA
        Write(writer, Frame(type: 0x0, streamId: 1, payload: 30));
        Assert.Equal(0, stream.BodyBefore(long.MaxValue, 0)); // framed, not flushed

        transport.BytesWritten = 5_000;
        await writer.FlushAsync();
        Write(writer, Frame(type: 0x0, streamId: 1, payload: 20)); // after the flush: goes with the next one

        Assert.Equal(0, stream.BodyBefore(4_999, 0));
        Assert.Equal(130, stream.BodyBefore(5_000, 0));
        Assert.Equal(130, stream.BodyBefore(long.MaxValue, 130));

        transport.BytesWritten = 6_000;
        await writer.FlushAsync();
        Assert.Equal(150, stream.BodyBefore(6_000, 130));
    }

    [Fact]
    public async Task AForgottenStream_IsNoLongerCounted_AndANewStreamWithItsIdStartsFromNothing()
    {
        var transport = new Transport();
        var writer = new Http2FrameCounter.FramesWriter(new Pipe().Writer, transport);
        var first = writer.Follow(5);
        Write(writer, Frame(type: 0x0, streamId: 5, payload: 40));
        first.Dispose();
        Write(writer, Frame(type: 0x0, streamId: 5, payload: 40));
        transport.BytesWritten = 100;
        await writer.FlushAsync();

        Assert.Equal(40, first.BodyBefore(100, 0));
        using var second = writer.Follow(7);
        Write(writer, Frame(type: 0x0, streamId: 7, payload: 8));
        transport.BytesWritten = 200;
        await writer.FlushAsync();
        Assert.Equal(8, second.BodyBefore(200, 0));
    }

    [Fact]
    public async Task AStreamWhoseProgressNobodyAsksFor_KeepsAtMostMaxCheckpoints_AndNeverCountsBytesBeforeTheirFlushIsAcknowledged()
    {
        // A topic's live events (and heartbeats, pongs) are flushed with no delivery waiting, so nothing asks BodyBefore.
        var transport = new Transport();
        var writer = new Http2FrameCounter.FramesWriter(new Pipe(new PipeOptions(pauseWriterThreshold: 0)).Writer, transport);
        using var stream = writer.Follow(1);
        const int Flushes = 10_000;
        for (var i = 1; i <= Flushes; i++)
        {
            Write(writer, Frame(type: 0x0, streamId: 1, payload: 10));
            transport.BytesWritten = 100L * i;
            await writer.FlushAsync();
        }

        Assert.InRange(stream.Checkpoints, 1, Http2StreamProgress.MaxCheckpoints);
        // Flush i ended at 100 i with 10 i body bytes: no position ever counts more than was flushed before it.
        long body = 0;
        for (var position = 100L * (Flushes - 2 * Http2StreamProgress.MaxCheckpoints); position <= 100L * Flushes; position += 100)
        {
            body = stream.BodyBefore(position, body);
            Assert.InRange(body, 0, position / 10);
        }

        Assert.Equal(10L * Flushes, body);
    }

    private static byte[] Frame(byte type, int streamId, int payload)
    {
        var frame = new byte[9 + payload];
        frame[0] = (byte)(payload >> 16);
        frame[1] = (byte)(payload >> 8);
        frame[2] = (byte)payload;
        frame[3] = type;
        frame[5] = (byte)(streamId >> 24);
        frame[6] = (byte)(streamId >> 16);
        frame[7] = (byte)(streamId >> 8);
        frame[8] = (byte)streamId;
        return frame;
    }

    private static void Write(PipeWriter writer, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
    }

    private sealed class Transport : ITransportBytesFeature
    {
        public long BytesWritten { get; set; }
    }
}
