using Eventsourced.Sockets;

namespace Eventsourced.WebSockets;

/// <summary>
/// A WebSocket's connection (an HTTP/1.1 upgrade's, or an HTTP/2 extended CONNECT's stream) whose reads pass through a
/// <see cref="CloseReasonCheck"/>, so that a close whose reason is not UTF-8 is answered with 1007 and a frame whose
/// header declares more than <c>ws.max_message_size</c> is closed at once, whichever HTTP version carries the WebSocket.
/// Writes go straight through.
/// </summary>
internal class CheckedReadStream(Stream inner) : PassThroughStream(inner)
{
    private readonly CloseReasonCheck _closeCheck = new();
    private byte[]? _heldRead;
    private int _heldReadStart;
    private int _heldReadEnd;

    /// <summary>Whether the client's close frame had a reason that is not valid UTF-8 (see <see cref="CloseReasonCheck"/>).</summary>
    public bool InvalidCloseReason => _closeCheck.InvalidCloseReason;

    /// <summary>The longest data frame a client's frame header may declare (<c>ws.max_message_size</c>) before <see cref="OversizedFrame"/> is called.</summary>
    public long MaxFrameLength
    {
        get => _closeCheck.MaxDataFrameLength;
        set => _closeCheck.MaxDataFrameLength = value;
    }

    /// <summary>
    /// Called once, within a read, when a client's frame header declares more than <see cref="MaxFrameLength"/>: the
    /// WebSocket would only report the message too big once that much of its payload had come (or never, from a client
    /// that sends the header and waits).
    /// </summary>
    public Action? OversizedFrame { get; set; }

    /// <summary>What the client sent, with its close frame's payload held back until all of it has come (<see cref="CloseReasonCheck"/>).</summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_heldRead is not null)
        {
            return TakeHeldRead(buffer.Span);
        }

        var read = await Inner.ReadAsync(buffer, cancellationToken);
        var oversizedBefore = _closeCheck.OversizedFrame;
        var start = _closeCheck.Follow(buffer.Span[..read], out var payloadLength);
        if (_closeCheck.OversizedFrame && !oversizedBefore)
        {
            OversizedFrame?.Invoke();
        }

        if (start < 0)
        {
            return read;
        }

        var held = new byte[Math.Max(payloadLength, read - start)];
        buffer.Span[start..read].CopyTo(held);
        var length = read - start;
        while (length < payloadLength)
        {
            var more = await Inner.ReadAsync(held.AsMemory(length, payloadLength - length), cancellationToken);
            if (more == 0)
            {
                // The connection ended within the close frame: the WebSocket reports that.
                break;
            }

            length += more;
        }

        if (length >= payloadLength)
        {
            _closeCheck.Check(held.AsSpan(0, payloadLength));
        }

        _heldRead = held;
        _heldReadStart = 0;
        _heldReadEnd = length;
        return start > 0 ? start : TakeHeldRead(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        Inner.WriteAsync(buffer, cancellationToken);

    private int TakeHeldRead(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _heldReadEnd - _heldReadStart);
        _heldRead.AsSpan(_heldReadStart, count).CopyTo(buffer);
        _heldReadStart += count;
        if (_heldReadStart == _heldReadEnd)
        {
            _heldRead = null;
        }

        return count;
    }
}
