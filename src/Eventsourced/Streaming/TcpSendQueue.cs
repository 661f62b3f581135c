using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Streaming;

/// <summary>
/// The bytes a client's TCP connection still holds that the peer has not acknowledged (Linux
/// <c>SIOCOUTQ</c>). A message whose bytes sit there has not reached the client: if the client has
/// vanished (a phone that lost its network sends no FIN), acknowledging it to the broker would lose it.
/// Only for HTTP/1.x over TCP on Linux, where a connection carries exactly one stream.
/// </summary>
internal sealed partial class TcpSendQueue
{
    private const nuint SiocOutq = 0x5411; // TIOCOUTQ: unsent + sent-but-unacknowledged bytes
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const byte TcpEstablished = 1;
    private const byte TcpCloseWait = 8; // the peer closed its side after acknowledging what it got

    private readonly Socket _socket;

    private TcpSendQueue(Socket socket) => _socket = socket;

    public static TcpSendQueue? For(HttpContext context)
    {
        if (!OperatingSystem.IsLinux() || !HttpProtocol.IsHttp11(context.Request.Protocol) && !HttpProtocol.IsHttp10(context.Request.Protocol))
        {
            return null;
        }

        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        return socket is { ProtocolType: ProtocolType.Tcp } ? new TcpSendQueue(socket) : null;
    }

    /// <summary>
    /// Bytes not yet acknowledged by the peer; null when the connection cannot tell. A connection the
    /// kernel has dropped (a user timeout, a reset) reports an empty send queue because it purged it:
    /// only an established connection's count means delivery.
    /// </summary>
    public int? Unacknowledged()
    {
        Span<byte> info = stackalloc byte[8];
        try
        {
            if (_socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info) < 1 || info[0] is not (TcpEstablished or TcpCloseWait))
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }

        var handle = _socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return Ioctl(handle.DangerousGetHandle(), SiocOutq, out var bytes) == 0 ? bytes : null;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(nint fd, nuint request, out int value);
}
