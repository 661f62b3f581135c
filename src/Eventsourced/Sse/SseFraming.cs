using System.Buffers;
using System.Globalization;
using System.Text;

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

    /// <summary>A heartbeat a page sees: <c>event: TYPE</c> and an empty <c>data:</c> (without a data line no event is dispatched).</summary>
    public static byte[] HeartbeatEvent(string type) => System.Text.Encoding.UTF8.GetBytes($"event: {type}\ndata:\n\n");

    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    /// <summary>The <c>event:</c> field name, for <see cref="WriteField"/>.</summary>
    public static ReadOnlySpan<byte> EventField => "event"u8;

    /// <summary>The <c>id:</c> field name, for <see cref="WriteField"/>.</summary>
    public static ReadOnlySpan<byte> IdField => "id"u8;

    /// <summary>
    /// A field's value as it may be written: without CR and LF (which would end the line early and let the
    /// value inject fields of its own) and NUL (which makes a browser ignore an <c>id:</c>); null when nothing is left.
    /// </summary>
    public static string? FieldValue(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            value = string.Concat(value.Where(c => c is not ('\r' or '\n' or '\0')));
        }

        return value.Length == 0 ? null : value;
    }

    /// <summary>The size of <c>NAME: VALUE\n</c> for a value from <see cref="FieldValue"/>.</summary>
    public static int FieldLength(ReadOnlySpan<byte> name, string value) => name.Length + 2 + Encoding.UTF8.GetByteCount(value) + 1;

    /// <summary>Writes <c>NAME: VALUE\n</c> for a value from <see cref="FieldValue"/>; returns the bytes written.</summary>
    public static int WriteField(ReadOnlySpan<byte> name, string value, Span<byte> destination)
    {
        name.CopyTo(destination);
        var written = name.Length;
        destination[written++] = (byte)':';
        destination[written++] = (byte)' ';
        written += Encoding.UTF8.GetBytes(value, destination[written..]);
        destination[written++] = (byte)'\n';
        return written;
    }

    /// <summary><c>id: ID</c> as a block of its own: sets the client's last event id (what it resumes after), no event.</summary>
    public static byte[] IdOnly(string id)
    {
        var value = FieldValue(id) ?? throw new ArgumentException("an id must have a character other than CR, LF and NUL", nameof(id));
        var block = new byte[FieldLength(IdField, value) + 1];
        var written = WriteField(IdField, value, block);
        block[written] = (byte)'\n';
        return block;
    }

    /// <summary><c>retry: MILLISECONDS</c> as a block of its own: the browser's reconnection delay, no event.</summary>
    public static byte[] Retry(int milliseconds) =>
        Encoding.ASCII.GetBytes("retry: " + milliseconds.ToString(CultureInfo.InvariantCulture) + "\n\n");

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
