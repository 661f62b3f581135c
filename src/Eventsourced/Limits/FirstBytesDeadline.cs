using Microsoft.AspNetCore.Connections;

namespace Eventsourced.Limits;

/// <summary>
/// A connection that sends nothing within <c>limits.request_headers_timeout</c> is closed. Kestrel waits for a
/// connection's first request as long as for a kept-alive one's next (its keep-alive timeout, 130 s), and its own headers
/// timeout starts only with the first byte: connections that never send one held a listener's cap (<c>limits.max_connections</c>,
/// or the observability listener's 64) for two minutes each. Kestrel has no setting for this wait, hence this middleware.
/// </summary>
internal static class FirstBytesDeadline
{
    /// <summary>The connection middleware: the rest of the pipeline runs only for a connection that sent something in time.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(TimeSpan timeout) => next => async context =>
    {
        if (await ArrivedAsync(context, timeout))
        {
            await next(context);
        }
    };

    /// <summary>Whether the connection sent something within <paramref name="timeout"/>; what it sent stays unread, for Kestrel.</summary>
    private static async Task<bool> ArrivedAsync(ConnectionContext context, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.ConnectionClosed);
        deadline.CancelAfter(timeout);
        try
        {
            var result = await context.Transport.Input.ReadAsync(deadline.Token);
            // Nothing consumed, nothing examined: the next read (Kestrel's, or TLS's) gets the same bytes at once.
            context.Transport.Input.AdvanceTo(result.Buffer.Start);
            return !result.Buffer.IsEmpty;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            // Reset by the client before its first byte (ConnectionResetException): nothing to serve. Left to Kestrel,
            // it was an error line with a stack trace per connection, written as fast as a client could connect.
            return false;
        }
    }
}
