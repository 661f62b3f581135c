using System.Buffers.Binary;
using System.Text;

namespace Eventsourced.Bench.Sse;

/// <summary>
/// The client side of a WebSocket after its upgrade, on the bytes as they arrive (RFC 6455): the gateway's
/// frames parsed without allocating per message (only the start of each message is kept: enough for the
/// JSON's <c>id</c> and the start of its <c>data</c>, where the <see cref="Payload"/> header is), pings answered
/// with pongs, and acknowledgements written back: after each read, one cumulative <c>{"ack": LAST, "multiple": true}</c>
/// for everything the read brought, as a client acknowledging what it has processed would. Client frames are
/// masked, as the protocol requires. Written by hand for the same reason as the SSE parser: a .NET
/// <c>ClientWebSocket</c> per stream costs a thread-pool hop per read, CPU taken from the gateway under test.
/// </summary>
internal sealed class WebSocketFrames
{
    private const int Kept = 160;
    private static ReadOnlySpan<byte> IdPrefix => "{\"id\":"u8;
    private static ReadOnlySpan<byte> DataKey => "\"data\":\""u8;

    private readonly byte[] _header = new byte[14];
    private readonly byte[] _message = new byte[Kept];
    private readonly byte[] _control = new byte[125];
    private readonly byte[] _output = new byte[512];
    private int _headerLength;
    private long _remaining = -1;
    private byte _opcode;
    private bool _final;
    private int _messageLength;
    private int _controlLength;
    private int _outputLength;
    private ulong _lastId;
    private ulong _ackedId;
    private uint _mask = (uint)Environment.TickCount;

    /// <summary>Messages whose data was handed to the caller.</summary>
    public long Messages { get; private set; }

    /// <summary>Whether <see cref="Feed"/> left bytes to send (pongs, an acknowledgement).</summary>
    public bool HasOutput => _outputLength > 0;

    public ReadOnlySpan<byte> Output => _output.AsSpan(0, _outputLength);

    public void OutputSent() => _outputLength = 0;

    /// <summary>Parses <paramref name="data"/>; <paramref name="onData"/> gets each message's data (its start). False once the gateway closed.</summary>
    public bool Feed(ReadOnlySpan<byte> data, Action<ReadOnlySpan<byte>> onData)
    {
        while (!data.IsEmpty)
        {
            if (_remaining < 0)
            {
                // The frame header: 2 bytes, plus 2 or 8 of extended length (the gateway never masks).
                _header[_headerLength++] = data[0];
                data = data[1..];
                if (_headerLength < 2)
                {
                    continue;
                }

                var length7 = _header[1] & 0x7f;
                var needed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
                if (_headerLength < needed)
                {
                    continue;
                }

                _final = (_header[0] & 0x80) != 0;
                var opcode = (byte)(_header[0] & 0x0f);
                if (opcode != 0)
                {
                    _opcode = opcode;
                }

                _remaining = length7 == 126 ? BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2))
                    : length7 == 127 ? (long)BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2))
                    : length7;
                _headerLength = 0;
                _controlLength = 0;
                if (_remaining > 0)
                {
                    continue;
                }
            }

            var take = (int)Math.Min(_remaining, data.Length);
            var chunk = data[..take];
            data = data[take..];
            _remaining -= take;
            if (_opcode >= 0x8)
            {
                chunk.CopyTo(_control.AsSpan(_controlLength));
                _controlLength += take;
            }
            else if (_messageLength < Kept)
            {
                var keep = Math.Min(take, Kept - _messageLength);
                chunk[..keep].CopyTo(_message.AsSpan(_messageLength));
                _messageLength += keep;
            }

            if (_remaining > 0)
            {
                continue;
            }

            _remaining = -1;
            switch (_opcode)
            {
                case 0x8: // close
                    return false;
                case 0x9: // ping: answer with a pong carrying the same bytes
                    Write(0xA, _control.AsSpan(0, _controlLength));
                    break;
                case 0xA:
                    break;
                default:
                    if (_final)
                    {
                        Message(_message.AsSpan(0, _messageLength), onData);
                        _messageLength = 0;
                    }

                    break;
            }
        }

        return true;
    }

    /// <summary>After a read: acknowledges everything up to the last message it brought.</summary>
    public void Acknowledge()
    {
        if (_lastId > _ackedId)
        {
            _ackedId = _lastId;
            Span<byte> ack = stackalloc byte[64];
            var length = Encoding.ASCII.GetBytes($"{{\"ack\":{_lastId},\"multiple\":true}}", ack);
            Write(0x1, ack[..length]);
        }
    }

    private void Message(ReadOnlySpan<byte> json, Action<ReadOnlySpan<byte>> onData)
    {
        Messages++;
        if (json.StartsWith(IdPrefix))
        {
            ulong id = 0;
            foreach (var b in json[IdPrefix.Length..])
            {
                if (b is < (byte)'0' or > (byte)'9')
                {
                    break;
                }

                id = (id * 10) + (ulong)(b - '0');
            }

            _lastId = Math.Max(_lastId, id);
        }

        var data = json.IndexOf(DataKey);
        onData(data < 0 ? [] : json[(data + DataKey.Length)..]);
    }

    /// <summary>Appends a masked client frame with <paramref name="opcode"/> and a payload of at most 125 bytes.</summary>
    private void Write(byte opcode, ReadOnlySpan<byte> payload)
    {
        var frame = _output.AsSpan(_outputLength);
        if (frame.Length < payload.Length + 6)
        {
            throw new IOException("the gateway's pings and our acknowledgements piled up unsent");
        }

        frame[0] = (byte)(0x80 | opcode);
        frame[1] = (byte)(0x80 | payload.Length);
        _mask = (_mask * 1664525) + 1013904223; // a fresh masking key per frame
        BinaryPrimitives.WriteUInt32BigEndian(frame[2..], _mask);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ frame[2 + (i & 3)]);
        }

        _outputLength += 6 + payload.Length;
    }
}
