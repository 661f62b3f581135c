using Eventsourced.Consuming;

namespace Eventsourced.Http;

/// <summary>
/// Subscriptions that outlive their request (long-polling): when a request is done with its subscription,
/// the subscription waits here, still consuming, with what it delivered still unacknowledged, for the next
/// request of the same name; after <c>idle</c> without one, or when the gateway stops, it ends (its channel
/// closes and the broker requeues what was not acknowledged). One request at a time uses a held subscription;
/// another one meanwhile is refused as busy, like a second subscriber. <see cref="SubscriptionGate"/> drives
/// it: it takes a held subscription instead of opening one, and keeps it instead of ending it.
/// </summary>
internal sealed class SubscriptionHold
{
    private readonly Dictionary<string, HeldSubscription> _held = new(StringComparer.Ordinal);
    private readonly TimeSpan _idle;
    private readonly TimeProvider _time;
    private bool _stopping;

    public SubscriptionHold(TimeSpan idle, TimeProvider time, CancellationToken stopping)
    {
        _idle = idle;
        _time = time;
        stopping.Register(static s => ((SubscriptionHold)s!).EndAll(), this);
    }

    /// <summary>Subscriptions held now (in use or waiting), for tests and logs.</summary>
    public int Count
    {
        get
        {
            lock (_held)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>
    /// The subscription held for <paramref name="name"/>, now in use by the caller; or null when none is held.
    /// False when a request is using it already.
    /// </summary>
    public bool TryTake(string name, out HeldSubscription? held)
    {
        lock (_held)
        {
            if (!_held.TryGetValue(name, out held))
            {
                return true;
            }

            if (held.InUse)
            {
                held = null;
                return false;
            }

            held.InUse = true;
            held.Generation++;
            held.Timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return true;
        }
    }

    /// <summary>A request opened <paramref name="held"/>'s subscription and uses it: a second request of the name is busy until <see cref="Keep"/> or <see cref="Forget"/>.</summary>
    /// <returns>False when the name is held already (by a request that opened it on another channel meanwhile, which the broker's exclusivity normally prevents).</returns>
    public bool TryAdd(HeldSubscription held)
    {
        lock (_held)
        {
            held.InUse = true;
            return !_stopping && _held.TryAdd(held.Name, held);
        }
    }

    /// <summary>The request is done with <paramref name="held"/>: it waits for the next request, at most the idle time.</summary>
    public void Keep(HeldSubscription held)
    {
        lock (_held)
        {
            if (_held.TryGetValue(held.Name, out var current) && ReferenceEquals(current, held))
            {
                if (!_stopping)
                {
                    held.InUse = false;
                    held.Generation++;
                    held.Timer ??= _time.CreateTimer(_ => Expire(held), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    held.ExpiresGeneration = held.Generation;
                    held.Timer.Change(_idle, Timeout.InfiniteTimeSpan);
                    return;
                }

                _held.Remove(held.Name);
            }
        }

        // The gateway stops: end it now.
        held.Timer?.Dispose();
        _ = held.EndAsync(SubscriptionEndReason.Shutdown);
    }

    /// <summary>The request ended <paramref name="held"/> itself (the broker's side ended, the gateway stops): no longer held.</summary>
    public void Forget(HeldSubscription held)
    {
        lock (_held)
        {
            if (_held.TryGetValue(held.Name, out var current) && ReferenceEquals(current, held))
            {
                _held.Remove(held.Name);
            }
        }

        held.Timer?.Dispose();
    }

    private void Expire(HeldSubscription held)
    {
        lock (_held)
        {
            // Taken again since the timer was armed: a request uses it, or it was kept anew.
            if (held.InUse || held.Generation != held.ExpiresGeneration
                || !_held.TryGetValue(held.Name, out var current) || !ReferenceEquals(current, held))
            {
                return;
            }

            _held.Remove(held.Name);
        }

        held.Timer?.Dispose();
        _ = held.EndAsync(SubscriptionEndReason.HoldExpired);
    }

    private void EndAll()
    {
        List<HeldSubscription> idle;
        lock (_held)
        {
            _stopping = true;
            idle = _held.Values.Where(h => !h.InUse).ToList();
            foreach (var held in idle)
            {
                _held.Remove(held.Name);
            }
        }

        foreach (var held in idle)
        {
            held.Timer?.Dispose();
            _ = held.EndAsync(SubscriptionEndReason.Shutdown);
        }
    }
}

/// <summary>A subscription kept between requests by a <see cref="SubscriptionHold"/>, with what the gateway logs and counts when it ends.</summary>
internal sealed class HeldSubscription(string name, ISubscription subscription, long started, Func<HeldSubscription, SubscriptionEndReason, Task> end)
{
    private int _ended;

    public string Name { get; } = name;

    public ISubscription Subscription { get; } = subscription;

    /// <summary>When it was opened (a <see cref="TimeProvider"/> timestamp).</summary>
    public long Started { get; } = started;

    /// <summary>Messages its requests handed to clients so far.</summary>
    public long Messages { get; set; }

    internal bool InUse { get; set; }

    internal long Generation { get; set; }

    internal long ExpiresGeneration { get; set; }

    internal ITimer? Timer { get; set; }

    /// <summary>Ends the subscription once (release, metrics, logs); later calls do nothing.</summary>
    public Task EndAsync(SubscriptionEndReason reason) =>
        Interlocked.Exchange(ref _ended, 1) == 0 ? end(this, reason) : Task.CompletedTask;
}
