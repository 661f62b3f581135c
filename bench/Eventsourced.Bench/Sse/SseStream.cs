using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Eventsourced.Bench.Sse;

/// <summary>How a stream's connection ended, as the client saw it.</summary>
internal enum StreamEnd
{
    None,
    /// <summary>The response ended with the terminating chunk: the gateway finished it.</summary>
    Finished,
    /// <summary>The connection closed (FIN) without the terminating chunk: the gateway aborted it gracefully.</summary>
    Closed,
    /// <summary>The connection was reset (RST): whatever the kernel still held for us is gone.</summary>
    Reset,
    /// <summary>This tool closed it.</summary>
    ClosedByUs,
    /// <summary>Connecting, sending the request or reading failed otherwise.</summary>
    Error,
}

/// <summary>
/// The client side of one stream over a raw socket: HTTP/1.1 response head, chunked transfer decoding and
/// SSE line parsing done on the bytes as they arrive, without allocating per event; or, for a WebSocket
/// stream, the upgrade and the frames (<see cref="WebSocketFrames"/>), acknowledging what each read brought. Each event's data is
/// checked as a <see cref="Payload"/>: the right queue, and the next sequence number of that queue.
/// Its socket is connected and read by the <see cref="EpollReactor"/>: one thread at a time reads it and owns
/// every counter; the owning <see cref="StreamSet"/> is told of each step.
/// </summary>
internal sealed class SseStream
{
    private const int MaxHead = 8 * 1024;
    private const int MaxLine = 128;
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;
    private static ReadOnlySpan<byte> IdPrefix => "id: "u8;
    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private readonly StreamSet _owner;
    private readonly byte[] _line = new byte[MaxLine];
    private byte[]? _head = new byte[MaxHead];
    private int _headLength;
    private int _lineLength;
    private bool _chunked;
    private ChunkState _chunkState;
    private long _chunkRemaining;
    private bool _eventHasData;
    private bool _eventValid;
    private int _eventQueue;
    private long _eventSeq;
    private long _eventStamp;
    private long _eventId = -1;
    private volatile bool _closing;
    private volatile bool _paused;
    private EpollReactor.Connection? _connection;
    private SequenceCheck _received;
    private readonly WebSocketFrames? _frames;
    private readonly Action<ReadOnlySpan<byte>>? _onFrameData;

    public SseStream(StreamSet owner, int index, string queue, bool webSocket = false)
    {
        _owner = owner;
        Index = index;
        Queue = queue;
        ExpectedQueue = index;
        if (webSocket)
        {
            _frames = new WebSocketFrames();
            _onFrameData = OnFrameData;
        }
    }

    /// <summary>A WebSocket (with client acknowledgements) rather than an SSE stream.</summary>
    public bool IsWebSocket => _frames is not null;

    /// <summary>The queue index every payload on this stream must carry: its own index, or (a topic's subscribers) the one all share.</summary>
    public int ExpectedQueue { get; set; }

    /// <summary>The request that opens the stream, when not the connector's for <see cref="Queue"/> (a topic, a resume).</summary>
    public byte[]? Request { get; set; }

    /// <summary>The <c>id:</c> of the last event received (a topic's stream offset); -1 before any.</summary>
    public long LastEventId { get; private set; } = -1;

    /// <summary>Continues the sequence check of an earlier connection of the same subscriber: <paramref name="next"/> is expected first.</summary>
    public void ContinueFrom(long next) => _received = SequenceCheck.From(next);

    private enum ChunkState
    {
        Size,
        Extension,
        Data,
        DataEnd,
    }

    /// <summary>The stream's queue index: every payload on it must carry this index.</summary>
    public int Index { get; }

    public string Queue { get; }

    /// <summary>The HTTP status, 0 until the response head arrived (or when there was none).</summary>
    public int Status { get; private set; }

    /// <summary>Why the stream did not open or ended: X-Status-Reason, a socket error, a timeout.</summary>
    public string? Reason { get; private set; }

    /// <summary>Stopwatch timestamp when the opening comment arrived (200 and streaming); 0 before.</summary>
    public long OpenedAt { get; private set; }

    public bool IsStreaming => OpenedAt != 0;

    public StreamEnd End { get; private set; }

    /// <summary>Our events received, in order or not.</summary>
    public long Events { get; private set; }

    /// <summary>This queue's payloads so far: the next sequence number expected and what was wrong.</summary>
    public SequenceCheck Received => _received;

    /// <summary>Comment lines: the opening one and heartbeats.</summary>
    public long Comments { get; private set; }

    public long BytesReceived { get; private set; }

    /// <summary>HTTP chunks received: Kestrel writes one per flush, so this counts the gateway's flushes.</summary>
    public long Chunks { get; private set; }

    /// <summary>Stops reading: the socket is left alone until <see cref="Resume"/> (a client that stalls).</summary>
    public void Pause()
    {
        _paused = true;
        Volatile.Read(ref _connection)?.Pause();
    }

    public void Resume()
    {
        _paused = false;
        Volatile.Read(ref _connection)?.Resume();
    }

    /// <summary>Closes the connection from our side; the stream ends with <see cref="StreamEnd.ClosedByUs"/>.</summary>
    public void Close()
    {
        _closing = true;
        Volatile.Read(ref _connection)?.Close();
    }

    /// <summary>Connects, sends the request and reads (on the <see cref="EpollReactor"/>) until the stream ends or is closed.</summary>
    public async Task RunAsync(SseConnector connector)
    {
        Socket? socket = null;
        try
        {
            socket = connector.Open(Index);
            var connection = EpollReactor.Shared.Start(this, socket, Request ?? (IsWebSocket ? connector.WebSocketRequest(Queue) : connector.Request(Queue)));
            Volatile.Write(ref _connection, connection);
            if (_paused)
            {
                connection.Pause();
            }

            if (_closing)
            {
                connection.Close();
            }

            await connection.Ended.Task;
            if (End == StreamEnd.None)
            {
                Finish(StreamEnd.ClosedByUs, null); // closed before the other side ended it
            }
        }
        catch (Exception) when (_closing)
        {
            Finish(StreamEnd.ClosedByUs, null);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            Finish(StreamEnd.Reset, Status == 0 ? "connection reset before a response" : "connection reset");
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidDataException)
        {
            Finish(StreamEnd.Error, ex is SocketException se ? $"socket: {se.SocketErrorCode}" : ex.Message);
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <summary>
    /// On a reactor thread, when the socket is readable: one receive, fed to the parser. False once the
    /// stream has ended (finished or closed by the other side); throws what the socket reports.
    /// </summary>
    internal bool ReadAvailable(Socket socket, byte[] buffer)
    {
        var n = socket.Receive(buffer, SocketFlags.None, out var error);
        if (error == SocketError.WouldBlock)
        {
            return true;
        }

        if (error != SocketError.Success)
        {
            throw new SocketException((int)error);
        }

        if (n == 0)
        {
            Finish(_closing ? StreamEnd.ClosedByUs : StreamEnd.Closed, Status == 0 ? "connection closed before a response" : null);
            return false;
        }

        BytesReceived += n;
        if (!Feed(buffer.AsSpan(0, n)))
        {
            Finish(_closing ? StreamEnd.ClosedByUs : StreamEnd.Finished, null);
            return false;
        }

        if (_frames is { } frames)
        {
            // What this read brought is processed: acknowledge it (and answer pings) at once.
            frames.Acknowledge();
            if (frames.HasOutput)
            {
                var output = frames.Output;
                var sent = socket.Send(output, SocketFlags.None, out var sendError);
                if (sendError != SocketError.Success || sent != output.Length)
                {
                    throw new IOException($"could not send {output.Length} bytes of acknowledgements at once ({sendError})");
                }

                frames.OutputSent();
            }
        }

        return true;
    }

    private void Finish(StreamEnd end, string? reason)
    {
        End = end;
        Reason ??= reason;
        _owner.OnEnded(this);
    }

    /// <summary>Consumes received bytes; false once the response is complete.</summary>
    private bool Feed(ReadOnlySpan<byte> data)
    {
        if (_head is not null)
        {
            var take = Math.Min(data.Length, _head.Length - _headLength);
            data[..take].CopyTo(_head.AsSpan(_headLength));
            var searchFrom = Math.Max(0, _headLength - 3);
            var end = _head.AsSpan(searchFrom, _headLength + take - searchFrom).IndexOf(HeadEnd);
            if (end < 0)
            {
                _headLength += take;
                if (_headLength == _head.Length)
                {
                    throw new InvalidDataException("response head over 8 KB");
                }

                return true;
            }

            var headLength = searchFrom + end + HeadEnd.Length;
            var bodyStart = headLength - _headLength;
            ParseHead(_head.AsSpan(0, headLength));
            _head = null;
            if (Status != (IsWebSocket ? 101 : 200))
            {
                return false;
            }

            data = data[bodyStart..];
            if (IsWebSocket)
            {
                // Upgraded: streaming from here (an SSE stream counts from its opening comment).
                OpenedAt = Stopwatch.GetTimestamp();
                _owner.OnOpened(this);
            }
        }

        if (_frames is { } frames)
        {
            if (!data.IsEmpty)
            {
                Chunks++; // for a WebSocket: reads that brought frames
            }

            return frames.Feed(data, _onFrameData!);
        }

        return _chunked ? FeedChunked(data) : FeedEvents(data);
    }

    private void ParseHead(ReadOnlySpan<byte> head)
    {
        var text = Encoding.ASCII.GetString(head);
        var lines = text.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        Status = status.Length >= 2 && int.TryParse(status[1], out var code) ? code : -1;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line.AsSpan(0, colon).Trim();
            var value = line.AsSpan(colon + 1).Trim();
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                _chunked = true;
            }
            else if (name.Equals("X-Status-Reason", StringComparison.OrdinalIgnoreCase))
            {
                Reason = value.ToString();
            }
        }

        if (Status != (IsWebSocket ? 101 : 200))
        {
            Reason = $"{Status} {Reason ?? (status.Length > 2 ? status[2] : "")}".TrimEnd();
        }
    }

    private bool FeedChunked(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            switch (_chunkState)
            {
                case ChunkState.Size:
                    var b = data[0];
                    data = data[1..];
                    var hex = HexValue(b);
                    if (hex >= 0)
                    {
                        _chunkRemaining = (_chunkRemaining * 16) + hex;
                    }
                    else if (b == (byte)';')
                    {
                        _chunkState = ChunkState.Extension;
                    }
                    else if (b == (byte)'\n')
                    {
                        if (_chunkRemaining == 0)
                        {
                            return false; // the terminating chunk: the response is complete
                        }

                        _chunkState = ChunkState.Data;
                        Chunks++;
                    }
                    else if (b != (byte)'\r')
                    {
                        throw new InvalidDataException($"bad chunk size byte 0x{b:x2}");
                    }

                    break;
                case ChunkState.Extension:
                    var lf = data.IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        return true;
                    }

                    data = data[(lf + 1)..];
                    if (_chunkRemaining == 0)
                    {
                        return false;
                    }

                    _chunkState = ChunkState.Data;
                    Chunks++;
                    break;
                case ChunkState.Data:
                    var n = (int)Math.Min(_chunkRemaining, data.Length);
                    FeedEvents(data[..n]);
                    data = data[n..];
                    _chunkRemaining -= n;
                    if (_chunkRemaining == 0)
                    {
                        _chunkState = ChunkState.DataEnd;
                    }

                    break;
                case ChunkState.DataEnd:
                    var end = data.IndexOf((byte)'\n');
                    if (end < 0)
                    {
                        return true;
                    }

                    data = data[(end + 1)..];
                    _chunkState = ChunkState.Size;
                    break;
            }
        }

        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    private bool FeedEvents(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var lf = data.IndexOf((byte)'\n');
            if (lf < 0)
            {
                AppendLine(data);
                return true;
            }

            if (_lineLength == 0)
            {
                ProcessLine(data[..lf]);
            }
            else
            {
                AppendLine(data[..lf]);
                ProcessLine(_line.AsSpan(0, Math.Min(_lineLength, MaxLine)));
                _lineLength = 0;
            }

            data = data[(lf + 1)..];
        }

        return true;
    }

    /// <summary>Keeps the start of a line split across reads: only its first bytes are ever looked at.</summary>
    private void AppendLine(ReadOnlySpan<byte> part)
    {
        if (_lineLength < MaxLine)
        {
            var take = Math.Min(part.Length, MaxLine - _lineLength);
            part[..take].CopyTo(_line.AsSpan(_lineLength));
        }

        _lineLength += part.Length;
    }

    private void ProcessLine(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty)
        {
            if (_eventHasData)
            {
                DispatchEvent();
            }

            _eventHasData = false;
            return;
        }

        if (line[0] == (byte)':')
        {
            Comments++;
            if (OpenedAt == 0)
            {
                OpenedAt = Stopwatch.GetTimestamp();
                _owner.OnOpened(this);
            }

            return;
        }

        if (line.StartsWith(IdPrefix))
        {
            _eventId = ParseId(line[IdPrefix.Length..]);
            return;
        }

        if (line.StartsWith(DataPrefix))
        {
            // One data line per event from this tool; a second one would make it not ours.
            _eventValid = !_eventHasData && Payload.TryRead(line[DataPrefix.Length..], out _eventQueue, out _eventSeq, out _eventStamp);
            _eventHasData = true;
        }
    }

    /// <summary>A WebSocket message's data (its start): checked as an SSE event's data is.</summary>
    private void OnFrameData(ReadOnlySpan<byte> data)
    {
        _eventValid = Payload.TryRead(data, out _eventQueue, out _eventSeq, out _eventStamp);
        DispatchEvent();
    }

    private static long ParseId(ReadOnlySpan<byte> digits)
    {
        long value = 0;
        foreach (var b in digits)
        {
            if ((uint)(b - '0') > 9)
            {
                return -1;
            }

            value = (value * 10) + (b - '0');
        }

        return digits.IsEmpty ? -1 : value;
    }

    private void DispatchEvent()
    {
        var now = Stopwatch.GetTimestamp();
        Events++;
        if (_eventId >= 0)
        {
            LastEventId = _eventId;
            _eventId = -1;
        }

        if (_received.Observe(ExpectedQueue, _eventValid, _eventQueue, _eventSeq))
        {
            _owner.OnMessage(this, _eventSeq, _eventStamp, now);
        }
    }
}
