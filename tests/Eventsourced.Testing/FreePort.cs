using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Testing;

/// <summary>Loopback TCP ports nothing listens on (at the moment of asking).</summary>
public static class FreePort
{
    // rabbitmqctl binds its own distribution port in this range (see Rabbitmqctl); stay out of it.
    private const int CliRangeStart = 35672;
    private const int CliRangeEnd = 35872;

    /// <summary>A port the kernel just handed out for 127.0.0.1 and took back: free, and unlikely to be reused soon.</summary>
    public static int Next()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            if (port is < CliRangeStart or > CliRangeEnd)
            {
                return port;
            }
        }
    }
}
