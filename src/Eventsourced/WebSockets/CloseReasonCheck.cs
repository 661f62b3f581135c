using System.Text.Unicode;

namespace Eventsourced.WebSockets;

/// <summary>
/// Follows the frames a client sends, as they are read, to find its close frame. RFC 6455 (7.4.1, 8.1) answers a close
/// whose reason is not UTF-8 with 1007, but ASP.NET Core's WebSocket answers it with 1002 (protocol error) and no
/// reason. So the check holds a masked close frame's payload back until all of it has come, and when its reason is not
/// UTF-8 replaces the reason's bytes with <c>?</c> (same length, same mask) and sets <see cref="InvalidCloseReason"/>:
/// the WebSocket then reads a close it accepts, and the session answers 1007. Any other frame, and a close frame the
/// WebSocket refuses anyway (unmasked, fragmented, over 125 bytes), passes as it came; after the first close frame
/// everything does. The header bytes of each frame are only counted, and a data frame's payload is skipped unread.
/// A data frame whose header declares more than <see cref="MaxDataFrameLength"/> bytes sets <see cref="OversizedFrame"/>
/// (RFC 6455 10.4 lets the endpoint fail it at once, instead of reading its payload up to the message limit).
/// </summary>
internal sealed class CloseReasonCheck
{
    private const byte CloseOpcode = 0x8;

    private readonly byte[] _header = new byte[14];
    private int _headerLength;
    private long _skip;
    private bool _done;
    private uint _maskKey;

    /// <summary>The longest data frame (text, binary, continuation) a header may declare without <see cref="OversizedFrame"/>.</summary>
    public long MaxDataFrameLength { get; set; } = long.MaxValue;

    /// <summary>Whether a data frame's header declared more than <see cref="MaxDataFrameLength"/> bytes.</summary>
    public bool OversizedFrame { get; private set; }

    /// <summary>Whether the client's close frame had a reason that is not valid UTF-8 (its bytes were replaced).</summary>
    public bool InvalidCloseReason { get; private set; }

    /// <summary>
    /// Follows <paramref name="data"/>, which comes next from the client. Returns the index in it where a close frame's
    /// payload starts, whose <paramref name="payloadLength"/> bytes are to be held back and passed to <see cref="Check"/>
    /// once all have come; -1 while there is none (all of <paramref name="data"/> may go on).
    /// </summary>
    public int Follow(ReadOnlySpan<byte> data, out int payloadLength)
    {
        payloadLength = 0;
        var i = 0;
        while (i < data.Length && !_done)
        {
            if (_skip > 0)
            {
                var skipped = (int)Math.Min(_skip, data.Length - i);
                _skip -= skipped;
                i += skipped;
                continue;
            }

            _header[_headerLength++] = data[i++];
            if (HeaderLength() is not { } length || _headerLength < length)
            {
                continue;
            }

            var payload = PayloadLength();
            var opcode = _header[0] & 0x0F;
            var masked = (_header[1] & 0x80) != 0;
            var final = (_header[0] & 0x80) != 0;
            _headerLength = 0;
            if (opcode != CloseOpcode)
            {
                // A frame this check is not about: its payload is skipped. A negative length (the top bit set) is a protocol error the WebSocket reports.
                _skip = Math.Max(0, payload);
                if (opcode < CloseOpcode && payload > MaxDataFrameLength)
                {
                    OversizedFrame = true;
                }

                continue;
            }

            _done = true;
            if (masked && final && payload is > 2 and <= 125)
            {
                payloadLength = (int)payload;
                _maskKey = BitConverter.ToUInt32(_header, length - 4);
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Looks at a close frame's masked payload (<paramref name="payload"/>, all of it, as <see cref="Follow"/> said): when
    /// its reason is not UTF-8 its bytes become <c>?</c>, masked as they were, and <see cref="InvalidCloseReason"/> is set.
    /// </summary>
    public void Check(Span<byte> payload)
    {
        Span<byte> mask = stackalloc byte[4];
        BitConverter.TryWriteBytes(mask, _maskKey);
        Span<byte> reason = stackalloc byte[125];
        reason = reason[..(payload.Length - 2)];
        for (var i = 0; i < reason.Length; i++)
        {
            reason[i] = (byte)(payload[i + 2] ^ mask[(i + 2) % 4]);
        }

        if (Utf8.IsValid(reason))
        {
            return;
        }

        InvalidCloseReason = true;
        for (var i = 2; i < payload.Length; i++)
        {
            payload[i] = (byte)('?' ^ mask[i % 4]);
        }
    }

    /// <summary>The length of the header being read once its second byte is there: 2, plus 2 or 8 for a longer length, plus 4 for a mask.</summary>
    private int? HeaderLength()
    {
        if (_headerLength < 2)
        {
            return null;
        }

        var length = (_header[1] & 0x7F) switch
        {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        return (_header[1] & 0x80) != 0 ? length + 4 : length;
    }

    private long PayloadLength() => (_header[1] & 0x7F) switch
    {
        126 => (_header[2] << 8) | _header[3],
        127 => (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2, 8)),
        var length => length,
    };
}
