using Eventsourced.WebSockets;

namespace Eventsourced.Tests.WebSockets;

public sealed class CloseReasonCheckTests
{
    private static readonly byte[] Mask = [0xA1, 0xB2, 0xC3, 0xD4];

    [Fact]
    public void Follow_SkipsDataFramesOfEveryLengthForm_ThenFindsTheClosePayload()
    {
        var check = new CloseReasonCheck();
        byte[] shortText = Frame(0x81, new byte[5]);
        byte[] mediumText = Frame(0x81, new byte[300]);
        byte[] longBinary = Frame(0x82, new byte[70_000]);
        byte[] close = Frame(0x88, [0x03, 0xE8, 0xFF]);
        byte[] all = [.. shortText, .. mediumText, .. longBinary, .. close];

        // Fed a byte at a time: headers and payloads cut anywhere.
        var found = -1;
        var length = 0;
        for (var i = 0; i < all.Length && found < 0; i++)
        {
            if (check.Follow(all.AsSpan(i, 1), out length) == 1)
            {
                found = i + 1;
            }
        }

        Assert.Equal(all.Length - 3, found);
        Assert.Equal(3, length);
    }

    [Fact]
    public void Check_AReasonThatIsNotUtf8_BecomesQuestionMarks_AndIsReported()
    {
        var check = new CloseReasonCheck();
        var close = Frame(0x88, [0x03, 0xE8, (byte)'o', 0xC3, 0x28]);
        var start = check.Follow(close, out var length);
        Assert.Equal(6, start);

        var payload = close.AsSpan(start, length);
        check.Check(payload);

        Assert.True(check.InvalidCloseReason);
        Assert.Equal([0x03, 0xE8, .. "???"u8], Unmask(payload));
    }

    [Fact]
    public void Check_AUtf8Reason_IsLeftAsItIs()
    {
        var check = new CloseReasonCheck();
        var close = Frame(0x88, [0x03, 0xE8, .. "été"u8]);
        var start = check.Follow(close, out var length);
        var before = close.ToArray();

        check.Check(close.AsSpan(start, length));

        Assert.False(check.InvalidCloseReason);
        Assert.Equal(before, close);
    }

    [Theory]
    [InlineData(0x88, false, 5)] // unmasked: the WebSocket refuses it (1002)
    [InlineData(0x08, true, 5)] // not final: a fragmented control frame, refused
    [InlineData(0x88, true, 2)] // a code without a reason: nothing to check
    public void Follow_ACloseFrameTheWebSocketJudgesItself_IsNotHeld(byte first, bool masked, int payloadLength)
    {
        var check = new CloseReasonCheck();
        byte[] frame = masked ? Frame(first, new byte[payloadLength]) : [first, (byte)payloadLength, .. new byte[payloadLength]];

        Assert.Equal(-1, check.Follow(frame, out _));
    }

    [Theory]
    [InlineData(0x81, 1001L, true)]  // a text frame over the maximum
    [InlineData(0x00, 1001L, true)]  // a continuation frame
    [InlineData(0x02, long.MaxValue, true)] // a binary frame declaring 2^63-1, not the last
    [InlineData(0x81, 1000L, false)] // exactly the maximum
    public void Follow_ADataFrameDeclaredLongerThanTheMaximum_IsReportedFromItsHeader(byte first, long declared, bool oversized)
    {
        // RFC 6455 10.4: the frame may be refused at once; it was read until 64 KiB of it had come.
        var check = new CloseReasonCheck { MaxDataFrameLength = 1000 };
        byte[] header = [first, 0x80 | 127, .. BitConverter.GetBytes(declared).Reverse(), .. Mask];

        Assert.Equal(-1, check.Follow(header, out _));

        Assert.Equal(oversized, check.OversizedFrame);
    }

    private static byte[] Frame(byte first, byte[] payload)
    {
        byte[] length = payload.Length switch
        {
            < 126 => [(byte)(0x80 | payload.Length)],
            < 65536 => [0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length],
            _ => [0x80 | 127, 0, 0, 0, 0, (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length],
        };
        return [first, .. length, .. Mask, .. payload.Select((b, i) => (byte)(b ^ Mask[i % 4]))];
    }

    private static byte[] Unmask(ReadOnlySpan<byte> payload) => [.. payload.ToArray().Select((b, i) => (byte)(b ^ Mask[i % 4]))];
}
