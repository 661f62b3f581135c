using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Eventsourced.Sockets;

/// <summary>
/// Sets <c>TCP_USER_TIMEOUT</c> on every accepted connection: when bytes stay unacknowledged by the
/// client for that long, the kernel drops the connection. A client that vanished without a FIN (a
/// phone that lost its network) is then noticed within heartbeat + timeout instead of the ~15 minutes
/// of default retransmissions, its stream ends, its queue is free again and what it did not receive
/// goes back to the queue. Linux applies it to zero-window probing too, and drops the connection
/// without telling the peer, so it must be longer than <c>server.write_timeout</c>, which ends a slow
/// reader's stream with a proper close.
/// </summary>
internal static class TcpUserTimeout
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(TimeSpan timeout)
    {
        var milliseconds = BitConverter.GetBytes((int)Math.Min(int.MaxValue, timeout.TotalMilliseconds));
        return next => context =>
        {
            if (OperatingSystem.IsLinux() && context.Features.Get<IConnectionSocketFeature>()?.Socket is { ProtocolType: ProtocolType.Tcp } socket)
            {
                try
                {
                    socket.SetRawSocketOption(LinuxTcp.Level, LinuxTcp.UserTimeout, milliseconds);
                }
                catch (SocketException)
                {
                    // An old kernel without the option: the default retransmission timeout applies.
                }
            }

            return next(context);
        };
    }
}
