using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Eventsourced.Limits;

/// <summary>
/// An HTTP/2 connection with no request open for <c>limits.request_headers_timeout</c> is closed, whatever frames it
/// sends meanwhile. Kestrel's keep-alive timeout (set to the same value) restarts at every PING the client sends, so a
/// client pinging every few seconds, never opening a stream, held a place of <c>limits.max_connections</c> for good: a few
/// bytes per connection and one address held the whole cap. Kestrel counts a connection's streams but tells nobody, so
/// the requests are counted here: <see cref="Requests"/> around every request, <see cref="Middleware"/> on the connection.
/// Written by hand: neither Kestrel nor a library has a setting for it.
/// </summary>
internal static class Http2IdleConnections
{
    /// <summary>How long a connection told to close (GOAWAY) may take before it is cut.</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    /// <summary>On an HTTPS endpoint, after <c>UseHttps</c>: follows the requests of each connection that negotiated <c>h2</c>.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(TimeSpan idle, TimeProvider time) => next => async context =>
    {
        if (context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) != true)
        {
            await next(context);
            return;
        }

        using var connection = new IdleConnection(context, idle, time);
        context.Features.Set(connection);
        await next(context);
    };

    /// <summary>The request middleware that counts a request open on its HTTP/2 connection for as long as it runs.</summary>
    public static async Task Requests(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<IdleConnection>() is not { } connection)
        {
            await next(context);
            return;
        }

        connection.Opened();
        try
        {
            await next(context);
        }
        finally
        {
            connection.Closed();
        }
    }

    /// <summary>One HTTP/2 connection: its open requests, and the timer that runs while there are none.</summary>
    internal sealed class IdleConnection : IDisposable
    {
        private readonly ConnectionContext _context;
        private readonly TimeSpan _idle;
        private readonly ITimer _timer;
        private readonly Lock _lock = new();
        private int _open;
        private bool _closeRequested;

        public IdleConnection(ConnectionContext context, TimeSpan idle, TimeProvider time)
        {
            _context = context;
            _idle = idle;
            _timer = time.CreateTimer(_ => Expired(), null, idle, Timeout.InfiniteTimeSpan);
        }

        public void Opened()
        {
            lock (_lock)
            {
                _open++;
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        public void Closed()
        {
            lock (_lock)
            {
                if (--_open == 0)
                {
                    _closeRequested = false;
                    _timer.Change(_idle, Timeout.InfiniteTimeSpan);
                }
            }
        }

        public void Dispose() => _timer.Dispose();

        /// <summary>
        /// Idle for the whole timeout: a graceful close first (GOAWAY: a request already on its way is still served);
        /// a connection still there after the grace with nothing open is cut.
        /// </summary>
        private void Expired()
        {
            bool cut;
            lock (_lock)
            {
                if (_open > 0)
                {
                    return;
                }

                cut = _closeRequested;
                _closeRequested = true;
                if (!cut)
                {
                    _timer.Change(CloseGrace, Timeout.InfiniteTimeSpan);
                }
            }

            if (!cut && _context.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
            {
                lifetime.RequestClose();
            }
            else
            {
                _context.Abort(new ConnectionAbortedException("HTTP/2 connection idle beyond limits.request_headers_timeout"));
            }
        }
    }
}
