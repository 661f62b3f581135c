using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.Sockets;

/// <summary>
/// How far a client's TCP has acknowledged the bytes of its connection (Linux <c>tcpi_bytes_acked</c>,
/// since 4.1), next to how far the server has written them (<see cref="ITransportBytesFeature"/>).
/// A message whose bytes the peer has not acknowledged has not reached the client: if the client has
/// vanished (a phone that lost its network sends no FIN), acknowledging it to the broker would lose it.
/// The count only ever grows with the peer's acknowledgements, so it stays true after the connection
/// was reset or dropped. For HTTP/1.x over TCP on Linux a connection carries one stream and positions are the
/// connection's; an HTTP/2 stream counts in its own response body (<see cref="Http2StreamAcknowledgements"/>).
/// </summary>
internal class TcpAcknowledgements : IDisposable
{
    private const int BytesAckedOffset = 120; // struct tcp_info: __u64 tcpi_bytes_acked
    private const int BytesReceivedOffset = 128; // __u64 tcpi_bytes_received, added with tcpi_bytes_acked (4.1)
    private const int InfoLength = BytesReceivedOffset + sizeof(ulong);

    private readonly Socket _socket;
    private readonly ITransportBytesFeature _written;
    private long _acknowledgedAtClose = -1;
    private CancellationTokenRegistration _closed;

    private protected TcpAcknowledgements(Socket socket, ITransportBytesFeature written)
    {
        _socket = socket;
        _written = written;
    }

    /// <summary>
    /// Null where the connection cannot tell: not HTTP/1.x or HTTP/2 over TCP (an HTTP/2 connection without
    /// <see cref="Http2FrameCounter"/>), not Linux, or a kernel before 4.1.
    /// </summary>
    public static TcpAcknowledgements? For(HttpContext context, TimeProvider? time = null)
    {
        var protocol = context.Request.Protocol;
        var http2 = HttpProtocol.IsHttp2(protocol);
        if (!OperatingSystem.IsLinux() || !http2 && !HttpProtocol.IsHttp11(protocol) && !HttpProtocol.IsHttp10(protocol))
        {
            return null;
        }

        if (context.Features.Get<IConnectionSocketFeature>()?.Socket is not { ProtocolType: ProtocolType.Tcp } socket
            || context.Features.Get<ITransportBytesFeature>() is not { } written)
        {
            return null;
        }

        if (!KernelReportsBytesAcked(socket))
        {
            return null;
        }

        TcpAcknowledgements acknowledgements;
        if (!http2)
        {
            acknowledgements = new TcpAcknowledgements(socket, written);
        }
        else if (context.Features.Get<IHttp2StreamsFeature>() is { } streams
            && context.Features.Get<IHttp2StreamIdFeature>() is { } stream)
        {
            acknowledgements = new Http2StreamAcknowledgements(socket, written, streams.Follow(stream.StreamId), context, time ?? TimeProvider.System);
        }
        else
        {
            return null;
        }

        if (context.Features.Get<IConnectionLifetimeFeature>() is { } lifetime)
        {
            // Registered after Kestrel's own callback on the same token, so run before it (a token runs its callbacks
            // newest first): Kestrel's aborts the connection and disposes the socket at once. Were the order ever
            // different, the count would just not be read, and what waited goes back to the queue, as it did before.
            acknowledgements._closed = lifetime.ConnectionClosed.UnsafeRegister(static s => ((TcpAcknowledgements)s!).ReadAtClose(), acknowledgements);
        }

        return acknowledgements;
    }

    /// <summary>
    /// The peer closed the connection (its FIN arrived): the count is read once more while the socket is still open. A client
    /// that closes right after a message came (an EventSource closed in <c>onmessage</c>) acknowledges that message's bytes
    /// in the very segment that carries its FIN, and Kestrel disposes the socket as soon as it sees the FIN: read later, the
    /// count was gone, and the message went back to the queue to be delivered again (over TLS, nearly every time).
    /// </summary>
    private void ReadAtClose()
    {
        if (BytesAcked(_socket) is { } acknowledged)
        {
            Volatile.Write(ref _acknowledgedAtClose, acknowledged);
        }
    }

    /// <summary>
    /// False only for a kernel whose <c>tcp_info</c> is too short (before 4.1). A socket that is
    /// already closed counts as able: it then acknowledges nothing, rather than everything.
    /// </summary>
    private static bool KernelReportsBytesAcked(Socket socket) => ReadBytesAcked(socket, out _, out _) is not Info.TooShort;

    /// <summary>The bytes written so far: read after a flush, where that flush's bytes end.</summary>
    public virtual long Written => _written.BytesWritten;

    /// <summary>
    /// The bytes the peer has acknowledged, counted as <see cref="Written"/> counts them; null when that is not known.
    /// </summary>
    public virtual long? Acknowledged() => ConnectionAcknowledged();

    /// <summary>What the stream's writes go through, so that <see cref="Written"/> counts them.</summary>
    public virtual PipeWriter CountWrites(PipeWriter writer) => writer;

    /// <summary>
    /// The connection's bytes the peer has acknowledged; once the socket is closed, as many as it had when the peer closed
    /// the connection, or null when that is not known.
    /// </summary>
    private protected long? ConnectionAcknowledged() => ConnectionAcknowledged(out _);

    /// <summary>
    /// As <see cref="ConnectionAcknowledged"/>, with the bytes the kernel had received from the peer at that moment
    /// (<paramref name="received"/>; <see cref="long.MaxValue"/> once the socket is closed: nothing is known to be read).
    /// </summary>
    private protected long? ConnectionAcknowledged(out long received)
    {
        if (ReadBytesAcked(_socket, out var acknowledged, out received) is Info.Read)
        {
            return acknowledged;
        }

        received = long.MaxValue;
        return Volatile.Read(ref _acknowledgedAtClose) is >= 0 and var atClose ? atClose : null;
    }

    /// <summary>The client's bytes the server has read from the connection (<see cref="ITransportBytesFeature.BytesRead"/>).</summary>
    private protected long ConnectionRead => _written.BytesRead;

    /// <summary>Stops reading the count at the connection's close: the stream has ended (the connection may serve other requests).</summary>
    public virtual void Dispose() => _closed.Dispose();

    /// <summary>The socket's bytes its peer has acknowledged; null where the kernel cannot tell or the socket is closed.</summary>
    internal static long? BytesAcked(Socket socket) => ReadBytesAcked(socket, out var acknowledged, out _) is Info.Read ? acknowledged : null;

    private enum Info
    {
        Read,
        TooShort,
        Closed,
    }

    private static Info ReadBytesAcked(Socket socket, out long acknowledged, out long received)
    {
        acknowledged = 0;
        received = 0;
        Span<byte> info = stackalloc byte[InfoLength];
        try
        {
            if (socket.GetRawSocketOption(LinuxTcp.Level, LinuxTcp.Info, info) < InfoLength)
            {
                return Info.TooShort;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return Info.Closed;
        }

        acknowledged = (long)MemoryMarshal.Read<ulong>(info[BytesAckedOffset..]);
        received = (long)MemoryMarshal.Read<ulong>(info[BytesReceivedOffset..]);
        return Info.Read;
    }
}
