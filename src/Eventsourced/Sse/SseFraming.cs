using System.Buffers;

namespace Eventsourced.Sse;

/// <summary>
/// The wire format of the Go original, on bytes: every CR is dropped (CRLF becomes LF, lone CRs vanish),
/// spaces and newlines are trimmed from both ends, each remaining line is prefixed with <c>data: </c>,
/// and a blank line ends the event. CR, LF and space are ASCII, so UTF-8 needs no decoding.
/// </summary>
internal static class SseFraming
{
    private static readonly SearchValues<byte> Trimmed = SearchValues.Create(" \r\n"u8);
    private static readonly SearchValues<byte> LineBreaks = SearchValues.Create("\r\n"u8);

    /// <summary>The comment that opens every stream.</summary>
    public static ReadOnlySpan<byte> Opening => ": SSE stream\n\n"u8;

    /// <summary>The comment sent to a stream that has been silent for the heartbeat interval.</summary>
    public static ReadOnlySpan<byte> Heartbeat => ": heartbeat\n\n"u8;

    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    /// <summary>The size of the framed event of an already trimmed body (see <see cref="Write"/>).</summary>
    public static int FramedLength(ReadOnlySpan<byte> trimmedBody)
    {
        var length = DataPrefix.Length + 2;
        foreach (var b in trimmedBody)
        {
            if (b == (byte)'\n')
            {
                length += DataPrefix.Length + 1;
            }
            else if (b != (byte)'\r')
            {
                length++;
            }
        }

        return length;
    }

    public static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> body)
    {
        var start = body.IndexOfAnyExcept(Trimmed);
        if (start < 0)
        {
            return [];
        }

        var end = body.LastIndexOfAnyExcept(Trimmed);
        return body[start..(end + 1)];
    }

    /// <summary>Writes the framed event of an already trimmed body; returns the bytes written.</summary>
    public static int Write(ReadOnlySpan<byte> trimmedBody, Span<byte> destination)
    {
        var written = 0;
        DataPrefix.CopyTo(destination);
        written += DataPrefix.Length;
        var rest = trimmedBody;
        while (true)
        {
            var i = rest.IndexOfAny(LineBreaks);
            if (i < 0)
            {
                rest.CopyTo(destination[written..]);
                written += rest.Length;
                break;
            }

            rest[..i].CopyTo(destination[written..]);
            written += i;
            if (rest[i] == (byte)'\n')
            {
                destination[written++] = (byte)'\n';
                DataPrefix.CopyTo(destination[written..]);
                written += DataPrefix.Length;
            }

            rest = rest[(i + 1)..];
        }

        destination[written++] = (byte)'\n';
        destination[written++] = (byte)'\n';
        return written;
    }
}
