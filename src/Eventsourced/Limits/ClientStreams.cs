namespace Eventsourced.Limits;

/// <summary>
/// The subscriptions each client (<see cref="ClientAddress"/>) has open, for <c>limits.streams_per_client</c>, over
/// every transport at once: streams and WebSockets while they run, and long-poll subscriptions as long as they are
/// held, between polls too. ASP.NET Core's concurrency limiter counts requests, which a subscription held between polls
/// outlives: without one count for both, a client held that many polls and that many streams besides.
/// </summary>
internal sealed class ClientStreams(int maxPerClient)
{
    private readonly CountPerKey<string> _open = new(StringComparer.Ordinal);

    /// <summary>Counts one more for <paramref name="client"/>; false (nothing counted) when it has as many as it may.</summary>
    public bool TryAdd(string client) => maxPerClient <= 0 || _open.TryAdd(client, maxPerClient);

    /// <summary>What <see cref="TryOpen"/> gives where nothing is counted.</summary>
    public static IDisposable NotCounted { get; } = new Opened(null, string.Empty);

    /// <summary>Counts one more for <paramref name="client"/> until the result is disposed; null when it has as many as it may.</summary>
    public IDisposable? TryOpen(string client) => TryAdd(client) ? new Opened(this, client) : null;

    /// <summary>Whether <paramref name="client"/> may open one more.</summary>
    public bool HasRoomFor(string client) => maxPerClient <= 0 || _open.Of(client) < maxPerClient;

    /// <summary>One of <paramref name="client"/>'s ended.</summary>
    public void Remove(string client)
    {
        if (maxPerClient > 0)
        {
            _open.Remove(client);
        }
    }

    private sealed class Opened(ClientStreams? streams, string client) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (streams is not null && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                streams.Remove(client);
            }
        }
    }
}
