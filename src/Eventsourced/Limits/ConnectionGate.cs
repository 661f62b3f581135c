namespace Eventsourced.Limits;

/// <summary>
/// One count of open connections over every address a listener binds. Kestrel's own cap
/// (<c>MaxConcurrentConnections</c>) counts each bound address apart: <c>localhost</c> (127.0.0.1 and ::1) or a host
/// name with several addresses held that many times <c>limits.max_connections</c>. The gate counts at the transport
/// (<see cref="GatedListenerFactory"/>), from accept until the socket is closed, and closes what comes beyond the
/// listener's total before the next accept, reporting each to <paramref name="rejected"/>. With
/// <paramref name="perClient"/> it also closes a connection whose client address holds
/// <c>limits.connections_per_client</c>.
/// </summary>
internal sealed class ConnectionGate(long limit, Action rejected, ClientConnections? perClient = null)
{
    private long _open;

    /// <summary><c>limits.connections_per_client</c>, or null.</summary>
    public ClientConnections? PerClient => perClient;

    /// <summary>Connections open through the gate now.</summary>
    public long Open => Interlocked.Read(ref _open);

    /// <summary>Takes a place for an accepted connection, or false (and reports the refusal) when the listener is full.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _open) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        rejected();
        return false;
    }

    /// <summary>Gives back the place of a connection whose socket is closed.</summary>
    public void Leave() => Interlocked.Decrement(ref _open);
}
