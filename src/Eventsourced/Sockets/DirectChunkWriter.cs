using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Eventsourced.Sockets;

/// <summary>What became of bytes handed to a <see cref="DirectChunkWriter"/>.</summary>
internal enum DirectWrite
{
    /// <summary>The kernel took them all.</summary>
    Sent,

    /// <summary>The socket's buffer is full: they wait, in order, and go out as the client reads.</summary>
    Queued,

    /// <summary>Too much waits already: nothing was taken (the client does not keep up).</summary>
    Full,

    /// <summary>The writer is closed or its connection failed: nothing was taken.</summary>
    Closed,
}

/// <summary>
/// Writes the body of one HTTP/1.1 chunked response straight to its connection's socket, once Kestrel has written
/// the headers and the stream's opening: each write is one or more whole chunks (<c>SIZE CRLF bytes CRLF</c>),
/// handed to the kernel by a non-blocking <c>send</c> on the calling thread. What the kernel cannot take at once
/// waits here, in order, and an asynchronous send delivers it; a writer more than <see cref="MaxPendingBytes"/> or
/// its chunk limit behind refuses more (<see cref="DirectWrite.Full"/>). When a waiting send makes no progress for
/// the write timeout, the stream is told (it ends, the client not reading) but nothing is thrown away: the stream's
/// last words are still taken, and a client that reads again gets everything.
/// <para>
/// Why by hand: a stream's message costs Kestrel's chunk framing, the connection's pipe, a hop to Kestrel's I/O
/// queue and its socket sender; measured on the bench machine, about 11 us of CPU per write when a topic fans out
/// to 10,000 subscribers (half of it outside the kernel's <c>send</c>), and the hop shows in the latency of every
/// live stream. A topic's frame is the same for all its subscribers, so it is framed as a chunk once per event and
/// each subscriber costs one system call, made by the feed's threads themselves. No server library offers such a
/// write; Kestrel still does everything else (request, headers, keep-alive, the response's end).
/// </para>
/// <para>
/// Only where nothing else can write to the connection meanwhile: HTTP/1.1 over plain TCP (not TLS, not HTTP/2),
/// the response chunked by Kestrel's own body writer (no middleware between), and only from the moment the kernel
/// has taken every byte Kestrel wrote (<see cref="TryTakeOver"/>). Before Kestrel writes again (the response's
/// end), <see cref="CloseAsync"/> waits until the kernel has taken everything written here; if it cannot (the
/// connection failed), the connection is aborted rather than mixing the two. Callers hold <see cref="Sync"/> around
/// the <c>Locked</c> calls so that what they check and what they write stay in one order.
/// </para>
/// </summary>
internal sealed partial class DirectChunkWriter
{
    /// <summary>Most bytes that may wait for a client whose socket buffer is full (the kernel's own buffer comes first).</summary>
    public const int MaxPendingBytes = 1024 * 1024;

    private const nuint OutputQueueRequest = 0x5411; // TIOCOUTQ (SIOCOUTQ): bytes in the send queue, unsent or unacknowledged
    private const int ChunkHeadMax = 10; // 8 hex digits and CRLF cover any frame we write

    private static readonly byte[] CrLf = "\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly int _maxPendingChunks;
    private readonly TimeSpan _writeTimeout;
    private readonly TimeProvider _time;
    private readonly Action<bool> _failed;
    private readonly Queue<long> _pendingChunkEnds = new();
    private byte[] _pending = [];
    private int _pendingStart;
    private int _pendingEnd;
    private long _queuedPosition;
    private long _sentPosition;
    private bool _sending;
    private bool _stopped;
    private bool _closed;
    private bool _broken;
    private bool _timedOut;
    private ITimer? _stall;
    private TaskCompletionSource<bool>? _drained;
    private TaskCompletionSource<bool>? _closeDrained;
    private long _lastWrite = long.MinValue;
    private readonly long _position;

    private DirectChunkWriter(Socket socket, long position, int maxPendingChunks, TimeSpan writeTimeout, TimeProvider time, Action<bool> failed)
    {
        _socket = socket;
        _position = position;
        _maxPendingChunks = maxPendingChunks;
        _writeTimeout = writeTimeout;
        _time = time;
        _failed = failed;
    }

    /// <summary>Taken around every <c>Locked</c> call.</summary>
    public object Sync { get; } = new();

    /// <summary>Whether the response may be written this way at all (checked once its headers are out).</summary>
    public static bool Eligible(HttpContext context) =>
        OperatingSystem.IsLinux()
        && HttpProtocol.IsHttp11(context.Request.Protocol)
        // The connection's own TLS, not Request.IsHttps: behind a proxy that terminates TLS the request's scheme is the
        // browser's (X-Forwarded-Proto), and the connection from the proxy is plain TCP.
        && context.Features.Get<ITlsConnectionFeature>() is null
        && context.Response.HasStarted
        && string.Equals(context.Response.Headers.TransferEncoding.ToString(), "chunked", StringComparison.OrdinalIgnoreCase)
        // Kestrel's own body writer: a middleware that replaced it (compression, say) would be bypassed.
        && context.Features.Get<IHttpResponseBodyFeature>()?.GetType().Assembly == typeof(KestrelServer).Assembly
        && context.Features.Get<IConnectionSocketFeature>()?.Socket is { ProtocolType: ProtocolType.Tcp }
        && context.Features.Get<ITransportBytesFeature>() is not null;

    /// <summary>
    /// The writer for an <see cref="Eligible"/> response, if the kernel has taken every byte Kestrel wrote to the
    /// connection (else null: try again later). From then on only this writer may write the body.
    /// </summary>
    /// <param name="failed">
    /// Called once, holding <see cref="Sync"/>, when a write fails: true when the client read nothing for
    /// <paramref name="writeTimeout"/>. It must not wait for anything.
    /// </param>
    public static DirectChunkWriter? TryTakeOver(HttpContext context, int maxPendingChunks, TimeSpan writeTimeout, TimeProvider time, Action<bool> failed)
    {
        if (!Eligible(context)
            || context.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket
            || context.Features.Get<ITransportBytesFeature>() is not { } written
            || KernelWritten(socket) is not { } kernel
            || kernel != written.BytesWritten)
        {
            return null;
        }

        return Over(socket, maxPendingChunks, writeTimeout, time, failed, kernel);
    }

    /// <summary>A writer of <paramref name="socket"/>, which nothing else writes to from now on; null if it is closed.</summary>
    /// <param name="position">Bytes the connection carried before this writer's (for <see cref="Written"/>).</param>
    internal static DirectChunkWriter? Over(Socket socket, int maxPendingChunks, TimeSpan writeTimeout, TimeProvider time, Action<bool> failed, long position = 0)
    {
        try
        {
            socket.Blocking = false;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }

        return new DirectChunkWriter(socket, position, maxPendingChunks, writeTimeout, time, failed);
    }

    /// <summary>
    /// Bytes written to the socket since it opened, as the kernel counts them: what the peer acknowledged
    /// (<c>tcpi_bytes_acked</c>) plus what waits in the send queue (<c>SIOCOUTQ</c>). Null where it cannot tell.
    /// </summary>
    internal static long? KernelWritten(Socket socket)
    {
        if (TcpAcknowledgements.BytesAcked(socket) is not { } acknowledged)
        {
            return null;
        }

        try
        {
            return Ioctl((int)socket.Handle, OutputQueueRequest, out var queued) == 0 ? acknowledged + queued : null;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Frames <paramref name="frame"/> as one chunk of the response.</summary>
    public static byte[] Chunk(ReadOnlySpan<byte> frame)
    {
        Span<byte> head = stackalloc byte[ChunkHeadMax];
        var length = Head(frame.Length, head);
        var chunk = new byte[length + frame.Length + CrLf.Length];
        head[..length].CopyTo(chunk);
        frame.CopyTo(chunk.AsSpan(length));
        CrLf.CopyTo(chunk.AsSpan(length + frame.Length));
        return chunk;
    }

    /// <summary>Bytes <paramref name="frame"/> takes as a chunk, at most.</summary>
    public static int ChunkLength(int frame) => frame + ChunkHeadMax + CrLf.Length;

    /// <summary>Frames <paramref name="frame"/> as a chunk at the start of <paramref name="destination"/> (room for <see cref="ChunkLength"/>); returns its length.</summary>
    public static int WriteChunk(ReadOnlySpan<byte> frame, Span<byte> destination)
    {
        var head = Head(frame.Length, destination);
        frame.CopyTo(destination[head..]);
        CrLf.CopyTo(destination[(head + frame.Length)..]);
        return head + frame.Length + CrLf.Length;
    }

    /// <summary>Under <see cref="Sync"/>: writes one whole chunk, or several one after the other (made by <see cref="Chunk"/> or <see cref="WriteChunk"/>).</summary>
    /// <param name="overLimit">The stream's last words: taken beyond the limits, and after <see cref="StopWrites"/> or a time-out.</param>
    /// <param name="counts">Counts as a write for <see cref="WroteSinceLastLook"/> (a heartbeat does not).</param>
    public DirectWrite WriteChunkLocked(ReadOnlySpan<byte> chunk, bool overLimit = false, bool counts = true)
    {
        // The stream's last words (overLimit) are taken after it stopped or timed out, until it is closed.
        if (_closed || _broken || (!overLimit && (_stopped || _timedOut)))
        {
            return DirectWrite.Closed;
        }

        if (_sending)
        {
            return Enqueue(chunk, overLimit, counts);
        }

        int sent;
        SocketError error;
        try
        {
            sent = _socket.Send(chunk, SocketFlags.None, out error);
        }
        catch (ObjectDisposedException)
        {
            // Kestrel closed the connection (the client went away) before the stream's writer closed this writer.
            return Break(timedOut: false);
        }

        if (error == SocketError.Success && sent == chunk.Length)
        {
            _queuedPosition += sent;
            _sentPosition += sent;
            if (counts)
            {
                Volatile.Write(ref _lastWrite, _time.GetTimestamp());
            }

            return DirectWrite.Sent;
        }

        if (error is not (SocketError.Success or SocketError.WouldBlock or SocketError.Interrupted))
        {
            return Break(timedOut: false);
        }

        // The kernel took part (or none): the rest waits, and goes out as the client reads.
        sent = Math.Max(0, sent);
        _queuedPosition += sent;
        _sentPosition += sent;
        Enqueue(chunk[sent..], overLimit: true, counts);
        _sending = true;
        _ = DrainAsync();
        return DirectWrite.Queued;
    }

    /// <summary>Under <see cref="Sync"/>: writes <paramref name="frame"/> as one chunk.</summary>
    public DirectWrite WriteFrameLocked(ReadOnlySpan<byte> frame, bool overLimit = false, bool counts = true)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkLength(frame.Length));
        try
        {
            return WriteChunkLocked(buffer.AsSpan(0, WriteChunk(frame, buffer)), overLimit, counts);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Where the connection's byte stream ends after everything written so far (Kestrel's bytes before this writer,
    /// then this writer's): the position the client's TCP acknowledgements are compared with.
    /// </summary>
    public long Written
    {
        get
        {
            lock (Sync)
            {
                return _position + _queuedPosition;
            }
        }
    }

    /// <summary>
    /// Completes when nothing waits here any more (true), or when the connection failed or a waiting send made no
    /// progress for the write timeout (false).
    /// </summary>
    public Task<bool> WhenDrainedAsync()
    {
        lock (Sync)
        {
            if (_broken || _timedOut)
            {
                return Task.FromResult(false);
            }

            if (!_sending)
            {
                return Task.FromResult(true);
            }

            _drained ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task;
        }
    }

    /// <summary>Whether a waiting send made no progress for the write timeout (the client stopped reading).</summary>
    public bool TimedOut
    {
        get
        {
            lock (Sync)
            {
                return _timedOut;
            }
        }
    }

    /// <summary>Bytes waiting here for the kernel to take them.</summary>
    public int PendingBytes
    {
        get
        {
            lock (Sync)
            {
                return _pendingEnd - _pendingStart;
            }
        }
    }

    /// <summary>
    /// When a message was last written (a timestamp of the writer's <see cref="TimeProvider"/>; <see cref="long.MinValue"/> before the
    /// first), for heartbeats: a stream that writes needs none, and an idle one needs one a heartbeat after its last message.
    /// </summary>
    public long LastWrite => Volatile.Read(ref _lastWrite);

    /// <summary>The stream is ending: only its last words are taken from now on (a topic's feed writes no more).</summary>
    public void StopWrites()
    {
        lock (Sync)
        {
            _stopped = true;
        }
    }

    /// <summary>
    /// Takes no more writes and waits until the kernel has everything written here, for as long as the connection
    /// lives (a client that never reads again is dropped by the kernel: <c>TCP_USER_TIMEOUT</c>). True when the
    /// connection may go on with Kestrel's writes; false when it failed first (the caller aborts it).
    /// </summary>
    public async Task<bool> CloseAsync()
    {
        Task<bool> drained;
        lock (Sync)
        {
            _stopped = _closed = true;
            if (_broken)
            {
                return false;
            }

            if (!_sending)
            {
                _stall?.Dispose();
                RestoreBlocking();
                return true;
            }

            _closeDrained ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _closeDrained.Task;
        }

        return await drained;
    }

    /// <summary>Under <see cref="Sync"/>: keeps bytes that go out after what already waits.</summary>
    private DirectWrite Enqueue(ReadOnlySpan<byte> bytes, bool overLimit, bool counts)
    {
        var waiting = _pendingEnd - _pendingStart;
        if (!overLimit && (_pendingChunkEnds.Count >= _maxPendingChunks || waiting + bytes.Length > MaxPendingBytes))
        {
            return DirectWrite.Full;
        }

        if (_pendingEnd + bytes.Length > _pending.Length)
        {
            // A new array, never a move within the old one: the send in flight still reads the old one.
            var grown = new byte[Math.Max(Math.Max(4096, _pending.Length * 2), waiting + bytes.Length)];
            _pending.AsSpan(_pendingStart, waiting).CopyTo(grown);
            _pending = grown;
            _pendingStart = 0;
            _pendingEnd = waiting;
        }

        bytes.CopyTo(_pending.AsSpan(_pendingEnd));
        _pendingEnd += bytes.Length;
        _queuedPosition += bytes.Length;
        _pendingChunkEnds.Enqueue(_queuedPosition);
        if (counts)
        {
            Volatile.Write(ref _lastWrite, _time.GetTimestamp());
        }

        return DirectWrite.Queued;
    }

    /// <summary>Sends what waits until nothing does; one runs at a time (<see cref="_sending"/>).</summary>
    private async Task DrainAsync()
    {
        try
        {
            while (true)
            {
                ReadOnlyMemory<byte> waiting;
                lock (Sync)
                {
                    if (_pendingEnd == _pendingStart)
                    {
                        _pendingStart = _pendingEnd = 0;
                        _sending = false;
                        _stall?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                        if (_closed)
                        {
                            _stall?.Dispose();
                            RestoreBlocking();
                        }

                        Complete(ref _drained, true);
                        Complete(ref _closeDrained, true);
                        return;
                    }

                    waiting = _pending.AsMemory(_pendingStart, _pendingEnd - _pendingStart);
                    // Each send must make progress within the write timeout; a client that reads again later still
                    // gets everything (the send is not cancelled), but its stream is told now.
                    _stall ??= _time.CreateTimer(static s => ((DirectChunkWriter)s!).OnStall(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    _stall.Change(_writeTimeout, Timeout.InfiniteTimeSpan);
                }

                var sent = await _socket.SendAsync(waiting, SocketFlags.None);
                lock (Sync)
                {
                    _pendingStart += sent;
                    _sentPosition += sent;
                    while (_pendingChunkEnds.TryPeek(out var end) && end <= _sentPosition)
                    {
                        _pendingChunkEnds.Dequeue();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            lock (Sync)
            {
                _sending = false;
                _stall?.Dispose();
                Break(timedOut: false);
                Complete(ref _drained, false);
                Complete(ref _closeDrained, false);
            }
        }
    }

    /// <summary>A waiting send made no progress for the write timeout: the stream is told, once.</summary>
    private void OnStall()
    {
        lock (Sync)
        {
            if (!_sending || _broken || _timedOut)
            {
                return;
            }

            _timedOut = true;
            _failed(true);
            Complete(ref _drained, false);
        }
    }

    private static void Complete(ref TaskCompletionSource<bool>? waiter, bool result)
    {
        waiter?.TrySetResult(result);
        waiter = null;
    }

    /// <summary>Under <see cref="Sync"/>: the connection failed; nothing more is written, and the stream is told once.</summary>
    private DirectWrite Break(bool timedOut)
    {
        if (!_broken)
        {
            _broken = true;
            if (!_timedOut)
            {
                _failed(timedOut);
            }
        }

        return DirectWrite.Closed;
    }

    private void RestoreBlocking()
    {
        try
        {
            _socket.Blocking = true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Gone: nothing will use it.
        }
    }

    /// <summary>Writes the chunk head for <paramref name="length"/> bytes (hex and CRLF) into <paramref name="head"/>; returns its length.</summary>
    private static int Head(int length, Span<byte> head)
    {
        length.TryFormat(head, out var digits, "x", CultureInfo.InvariantCulture);
        head[digits] = (byte)'\r';
        head[digits + 1] = (byte)'\n';
        return digits + 2;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, out int value);
}
