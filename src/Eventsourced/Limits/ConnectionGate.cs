using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Eventsourced.Limits;

/// <summary>
/// One count of open connections over every address a listener binds. Kestrel's own cap
/// (<c>MaxConcurrentConnections</c>) counts each bound address apart: <c>localhost</c> (127.0.0.1 and ::1) or a host
/// name with several addresses held that many times <c>limits.max_connections</c>. Kestrel's cap stays in front (its
/// <c>rejected_connections</c> counts what it closes); this one closes what passes it beyond the listener's total, as
/// Kestrel does (the connection is disposed unread), and reports each to <paramref name="rejected"/>.
/// </summary>
internal sealed class ConnectionGate(long limit, Action rejected)
{
    private long _open;

    /// <summary>Connections open through the gate now.</summary>
    public long Open => Interlocked.Read(ref _open);

    /// <summary>Adds the gate to <paramref name="listen"/>, before anything that reads the connection (TLS).</summary>
    public void Apply(ListenOptions listen) => listen.Use(next => async connection =>
    {
        if (Interlocked.Increment(ref _open) > limit)
        {
            Interlocked.Decrement(ref _open);
            rejected();
            await connection.DisposeAsync();
            return;
        }

        try
        {
            await next(connection);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    });
}
