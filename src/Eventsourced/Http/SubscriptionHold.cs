using Eventsourced.Consuming;

namespace Eventsourced.Http;

/// <summary>
/// Subscriptions that outlive their request (long-polling): when a request is done with its subscription,
/// the subscription waits here, still consuming, with what it delivered still unacknowledged, for the next
/// request of the same name; after <c>idle</c> without one, or when the gateway stops, it ends (its channel
/// closes and the broker requeues what was not acknowledged). One request at a time uses a held subscription;
/// another one meanwhile is refused as busy, like a second subscriber. <see cref="SubscriptionGate"/> drives
/// it: it takes a held subscription instead of opening one, and keeps it instead of ending it.
/// With a per-client limit (<c>limits.streams_per_client</c>), one client address holds at most that many: a held
/// subscription is an open stream (a channel, a consumer) whether or not a request is using it.
/// </summary>
internal sealed class SubscriptionHold
{
    private readonly Dictionary<string, HeldSubscription> _held = new(StringComparer.Ordinal);
    private readonly Limits.ClientStreams _perClient;
    private readonly TimeSpan _idle;
    private readonly TimeProvider _time;
    private readonly TimeSpan _busyGrace;
    private bool _stopping;

    /// <param name="maxPerClient">Subscriptions one client (<see cref="HeldSubscription.Client"/>) may hold at once; 0: no limit.</param>
    /// <param name="clients">
    /// Where held subscriptions count per client, shared with the transports that do not hold (the limit is theirs);
    /// null: a count of this hold's own, limited to <paramref name="maxPerClient"/>.
    /// </param>
    /// <param name="busyGrace">
    /// How long <see cref="TakeAsync"/> keeps trying a name in use (<c>queue.busy_grace</c>): the request using it may
    /// be the same client's previous one, whose client has left but which has not ended yet.
    /// </param>
    public SubscriptionHold(TimeSpan idle, TimeProvider time, CancellationToken stopping, int maxPerClient = 0, TimeSpan busyGrace = default, Limits.ClientStreams? clients = null)
    {
        _idle = idle;
        _perClient = clients ?? new Limits.ClientStreams(maxPerClient);
        _time = time;
        _busyGrace = busyGrace;
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
    /// The subscription held for <paramref name="name"/>, now in use by the caller; or null when none is held. False when
    /// a request is using it already. For a request of <paramref name="client"/> (null: any), a held subscription that
    /// counts for another client counts for <paramref name="client"/> from now on (a client whose address changed, or
    /// another client reading the queue), so that the client that opened it can open others again and the one polling it
    /// holds it within its own limit. False with <paramref name="tooMany"/> when <paramref name="client"/> holds as many as
    /// it may: the held subscription stays as it was, its idle time running on.
    /// </summary>
    public bool TryTake(string name, string? client, out HeldSubscription? held, out bool tooMany)
    {
        tooMany = false;
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

            if (client is not null && client != held.Client)
            {
                if (!_perClient.TryAdd(client))
                {
                    held = null;
                    tooMany = true;
                    return false;
                }

                _perClient.Remove(held.Client);
                held.Client = client;
            }

            held.InUse = true;
            held.Generation++;
            held.Timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return true;
        }
    }

    /// <summary>
    /// As <see cref="TryTake"/>, but a name in use is tried again for the busy grace before it counts as busy, as a
    /// subscriber of a queue another subscriber holds is (<c>queue.busy_grace</c>): a client whose poll was cut (a
    /// client-side timeout, a network switch) and that polls again at once finds its previous poll still in use until
    /// the gateway has noticed that its client left.
    /// </summary>
    /// <returns>
    /// Taken: false when a request still uses it after the grace; Held: the held subscription, or null when none is held;
    /// TooMany (not taken, at once): it counts for another client and <paramref name="client"/> holds as many as it may.
    /// </returns>
    public async Task<(bool Taken, HeldSubscription? Held, bool TooMany)> TakeAsync(string name, string? client, CancellationToken cancellationToken)
    {
        var busy = new BusyRetry(_busyGrace, _time);
        while (true)
        {
            if (TryTake(name, client, out var held, out var tooMany))
            {
                return (true, held, false);
            }

            if (tooMany)
            {
                return (false, null, true);
            }

            if (!await busy.WaitAsync(cancellationToken))
            {
                return (false, null, false);
            }
        }
    }

    /// <summary>A request opened <paramref name="held"/>'s subscription and uses it: a second request of the name is busy until <see cref="Keep"/> or <see cref="Forget"/>.</summary>
    /// <returns>False when the name is held already (by a request that opened it on another channel meanwhile, which the broker's exclusivity normally prevents).</returns>
    public bool TryAdd(HeldSubscription held) => TryAdd(held, out _);

    /// <summary>As <see cref="TryAdd(HeldSubscription)"/>; also false, with <paramref name="tooMany"/>, when its client holds as many as it may.</summary>
    public bool TryAdd(HeldSubscription held, out bool tooMany)
    {
        lock (_held)
        {
            held.InUse = true;
            tooMany = false;
            if (_stopping || _held.ContainsKey(held.Name))
            {
                return false;
            }

            tooMany = !_perClient.TryAdd(held.Client);
            if (tooMany)
            {
                return false;
            }

            _held.Add(held.Name, held);
            return true;
        }
    }

    /// <summary>Whether <paramref name="client"/> may hold one more (checked before opening one, and again when it is added).</summary>
    public bool HasRoomFor(string client) => _perClient.HasRoomFor(client);

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

                RemoveLocked(held);
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
                RemoveLocked(held);
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

            RemoveLocked(held);
        }

        held.Timer?.Dispose();
        _ = held.EndAsync(SubscriptionEndReason.HoldExpired);
    }

    private void RemoveLocked(HeldSubscription held)
    {
        _held.Remove(held.Name);
        _perClient.Remove(held.Client);
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
                RemoveLocked(held);
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
internal sealed class HeldSubscription(
    string name, ISubscription subscription, long started, Func<HeldSubscription, SubscriptionEndReason, Task> end, string client = "", System.Security.Claims.ClaimsPrincipal? user = null)
{
    private int _ended;

    public string Name { get; } = name;

    /// <summary>
    /// Who holds it, for the per-client limit: the address (<c>Limits.ClientAddress</c>) of the client whose request took it
    /// last (<see cref="SubscriptionHold.TryTake"/>).
    /// </summary>
    public string Client { get; internal set; } = client;

    public ISubscription Subscription { get; } = subscription;

    /// <summary>Whom presence announced it for: the user of the request that opened it, or of the last that took it with another subject.</summary>
    public System.Security.Claims.ClaimsPrincipal? User { get; internal set; } = user;

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
