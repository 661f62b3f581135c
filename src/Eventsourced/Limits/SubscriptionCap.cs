namespace Eventsourced.Limits;

/// <summary>
/// <c>limits.max_subscriptions</c>: the subscriptions open on this gateway at once, over every transport, queues and
/// topics, long-poll subscriptions held between polls included. Connections bound streams and WebSockets already (each
/// holds one), but a long-poll subscription outlives its request for <c>poll.hold</c>, holding a broker channel without
/// any connection: a client polling many ids and leaving at once made the gateway hold thousands of channels, past a
/// broker user's <c>max-channels</c> (where RabbitMQ closes a whole connection) or the broker's memory.
/// </summary>
internal sealed class SubscriptionCap(int max)
{
    private long _open;

    /// <summary>The cap; 0: none.</summary>
    public int Max => max;

    /// <summary>Subscriptions counted as open.</summary>
    public long Open => Interlocked.Read(ref _open);

    /// <summary>Counts one more; false (nothing counted) at the cap.</summary>
    public bool TryTake()
    {
        var open = Interlocked.Increment(ref _open);
        if (max > 0 && open > max)
        {
            Interlocked.Decrement(ref _open);
            return false;
        }

        return true;
    }

    /// <summary>One counted by <see cref="TryTake"/> has ended.</summary>
    public void Give() => Interlocked.Decrement(ref _open);
}
