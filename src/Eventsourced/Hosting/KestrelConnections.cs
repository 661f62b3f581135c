using Eventsourced.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.AspNetCore.Hosting;

public static class EventsourcedKestrelExtensions
{
    /// <summary>
    /// The connection middleware the gateway's delivery guarantee needs on every endpoint: bytes written
    /// are counted, so a flush's messages are acknowledged to the broker only once the client's TCP has
    /// acknowledged them, and <c>TCP_USER_TIMEOUT</c> drops connections whose client vanished. Without it a
    /// flush counts as delivery.
    /// </summary>
    /// <param name="writeTimeout">
    /// <c>server.write_timeout</c>. The kernel's drop gets twice as long: a reader that is merely slow is
    /// ended by the gateway's own write timeout first, with a proper close.
    /// </param>
    public static KestrelServerOptions UseEventsourcedConnections(this KestrelServerOptions kestrel, TimeSpan writeTimeout)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        var userTimeout = TcpUserTimeout.Middleware(2 * writeTimeout);
        var countBytes = TransportByteCounter.Middleware();
        kestrel.ConfigureEndpointDefaults(listen => listen.Use(countBytes).Use(userTimeout));
        return kestrel;
    }

    /// <summary>
    /// On an HTTPS endpoint, after <c>UseHttps</c>: follows where each HTTP/2 stream's bytes go out on its connection
    /// (<see cref="Http2FrameCounter"/>), so that an HTTP/2 stream's messages are acknowledged once the client's TCP has
    /// them, as an HTTP/1.1 stream's are. Needs <see cref="UseEventsourcedConnections"/>; without both, an HTTP/2
    /// stream's flush counts as delivery.
    /// </summary>
    public static ListenOptions UseEventsourcedHttp2(this ListenOptions listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        listen.Use(Http2FrameCounter.Middleware());
        return listen;
    }
}
