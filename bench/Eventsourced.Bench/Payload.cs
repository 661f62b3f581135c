using System.Diagnostics;

namespace Eventsourced.Bench;

/// <summary>
/// A message body the tool can check on arrival, ASCII on one line so the gateway's framing leaves it intact:
/// <c>QQQQQQQ SSSSSSSSSS TTTTTTTTTTTTTTTTTTT xxx...</c> = queue index, sequence number within the queue,
/// the publisher's <see cref="Stopwatch.GetTimestamp"/> (same process as the readers), then padding to the size.
/// </summary>
internal static class Payload
{
    public const int MinSize = HeaderLength + 1;
    private const int QueueDigits = 7;
    private const int SeqDigits = 10;
    private const int StampDigits = 19;
    private const int HeaderLength = QueueDigits + 1 + SeqDigits + 1 + StampDigits;

    public static byte[] Create(int queue, long seq, long stamp, int size)
    {
        var body = new byte[Math.Max(size, MinSize)];
        Write(queue, seq, stamp, body);
        return body;
    }

    public static void Write(int queue, long seq, long stamp, Span<byte> body)
    {
        var at = 0;
        WriteDigits(body, ref at, queue, QueueDigits);
        body[at++] = (byte)' ';
        WriteDigits(body, ref at, seq, SeqDigits);
        body[at++] = (byte)' ';
        WriteDigits(body, ref at, stamp, StampDigits);
        body[at++] = (byte)' ';
        body[at..].Fill((byte)'x');
    }

    /// <summary>Reads a body (or the data of an SSE event); false if it is not one of ours.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, out int queue, out long seq, out long stamp)
    {
        queue = 0;
        seq = 0;
        stamp = 0;
        if (body.Length < HeaderLength
            || !TryDigits(body[..QueueDigits], out var q)
            || !TryDigits(body.Slice(QueueDigits + 1, SeqDigits), out seq)
            || !TryDigits(body.Slice(QueueDigits + 1 + SeqDigits + 1, StampDigits), out stamp))
        {
            return false;
        }

        queue = (int)q;
        return true;
    }

    private static void WriteDigits(Span<byte> to, ref int at, long value, int digits)
    {
        for (var i = digits - 1; i >= 0; i--)
        {
            to[at + i] = (byte)('0' + (value % 10));
            value /= 10;
        }

        at += digits;
    }

    private static bool TryDigits(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        foreach (var b in digits)
        {
            var d = b - '0';
            if ((uint)d > 9)
            {
                return false;
            }

            value = (value * 10) + d;
        }

        return true;
    }
}
