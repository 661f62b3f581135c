using System.Threading.Channels;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.LongPolling;

/// <summary>
/// A subscription as long-polling holds it between polls: the queue's subscription, the batch the last
/// poll answered, unacknowledged until a poll names its last id, and what a poll took from the buffer but
/// never answered (its client left, or its token expired, while it gathered). Ending it gives the buffers
/// back; the messages go back to the queue with the channel (counted as requeued, <c>poll_unacknowledged</c>).
/// It also knows since when it has held something no poll acknowledged (<see cref="PendingSince"/>), so that a client
/// that never acknowledges cannot keep a delivery unacknowledged until the broker's <c>consumer_timeout</c> closes
/// the channel (<see cref="GiveBack"/>).
/// </summary>
internal sealed class PollSubscription(ISubscription inner, string nonce, GatewayMetrics metrics) : ISubscription
{
    private List<OutboundItem>? _batch;
    private List<OutboundItem>? _unanswered;
    private SubscriptionEndReason? _givenBack;

    public string Name => inner.Name;

    /// <summary>The bindings (<c>queue.bind</c>) made for its requests so far: a later request's others are added (<see cref="PollTarget.ReuseAsync"/>).</summary>
    public HashSet<ResolvedBinding> Bound { get; } = [];

    public string Node => inner.Node;

    public ChannelReader<OutboundItem> Items => inner.Items;

    /// <summary>Why the broker side ended; or <see cref="SubscriptionEndReason.AckTimeout"/> once <see cref="GiveBack"/> was called.</summary>
    public SubscriptionEndReason? EndReason => inner.EndReason ?? _givenBack;

    /// <summary>
    /// Since when (a <see cref="TimeProvider"/> timestamp) the subscription holds messages a poll took, answered or not,
    /// and no poll acknowledged; null when it holds none. The oldest of them counts: acknowledging an answer starts over.
    /// </summary>
    public long? PendingSince { get; private set; }

    /// <summary>The last answer's messages, waiting for the poll that acknowledges them; null when none waits.</summary>
    public IReadOnlyList<OutboundItem>? Batch => _batch;

    /// <summary>
    /// Where in <see cref="Batch"/> the message whose id is <paramref name="id"/> is; -1 when none of it has that id (an id
    /// of an earlier answer, or of another subscription).
    /// </summary>
    public int IndexInBatch(string id)
    {
        if (_batch is not { } batch || id.Length <= nonce.Length + 1 || !id.StartsWith(nonce, StringComparison.Ordinal) || id[nonce.Length] != '-'
            || !ulong.TryParse(id.AsSpan(nonce.Length + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var tag))
        {
            return -1;
        }

        return batch.FindIndex(item => item.Tag == tag);
    }

    /// <summary><paramref name="batch"/> was answered (at <paramref name="now"/>) and waits for its acknowledgement.</summary>
    public void Answered(List<OutboundItem> batch, long now)
    {
        _batch = batch.Count > 0 ? batch : null;
        PendingSince = _batch is null ? null : PendingSince ?? now;
    }

    /// <summary>
    /// A poll ended before it answered <paramref name="taken"/> (the client left, the token expired): they are no
    /// longer in the buffer, so the next poll starts its answer with them (<see cref="TakeUnanswered"/>), in order.
    /// Never written, so nobody knows their ids: the next answer may add to them, unlike a lost answer.
    /// </summary>
    public void Unanswered(List<OutboundItem> taken, long now)
    {
        if (_unanswered is { } rest)
        {
            // What a smaller answer left of the earlier ones came after what this poll took.
            taken.AddRange(rest);
        }

        _unanswered = taken.Count > 0 ? taken : null;
        PendingSince = _unanswered is null ? null : PendingSince ?? now;
    }

    /// <summary>
    /// A poll asks for fewer messages (<c>?max=</c>) than the unacknowledged answer it gets again: the answer becomes
    /// its first <paramref name="max"/> messages, ids and all, and the rest start the next answer (they are still
    /// unacknowledged, and came later than what the shorter answer's last id acknowledges).
    /// </summary>
    public void ShortenBatch(int max)
    {
        if (_batch is { } batch && batch.Count > max)
        {
            var rest = batch.GetRange(max, batch.Count - max);
            batch.RemoveRange(max, batch.Count - max);
            if (_unanswered is { } unanswered)
            {
                rest.AddRange(unanswered);
            }

            _unanswered = rest;
        }
    }

    /// <summary>
    /// Ends the subscription after the current poll (<see cref="EndReason"/> becomes <see cref="SubscriptionEndReason.AckTimeout"/>,
    /// so that it is not held for the next one): what it holds goes back to the queue when it is disposed.
    /// </summary>
    public void GiveBack() => _givenBack = SubscriptionEndReason.AckTimeout;

    /// <summary>
    /// What a poll took and did not answer (<see cref="Unanswered"/>, <see cref="ShortenBatch"/>), for the next answer to
    /// start with, up to <paramref name="max"/> (the rest stays for the answer after it); null when nothing.
    /// </summary>
    public List<OutboundItem>? TakeUnanswered(int max = int.MaxValue)
    {
        var taken = _unanswered;
        if (taken is not null && taken.Count > max)
        {
            _unanswered = taken.GetRange(max, taken.Count - max);
            taken.RemoveRange(max, taken.Count - max);
            return taken;
        }

        _unanswered = null;
        return taken;
    }

    /// <summary>
    /// <see cref="Batch"/> was acknowledged up to and including its message at <paramref name="index"/>: their buffers go
    /// back to the pool, and the rest (a client that acknowledged what it handled before one it could not) starts the next
    /// answer, ids and all. They are still pending since the answer was taken: <c>poll.ack_timeout</c> counts on.
    /// </summary>
    public void AcknowledgedThrough(int index)
    {
        if (_batch is { } batch && index < batch.Count - 1)
        {
            var rest = batch.GetRange(index + 1, batch.Count - index - 1);
            batch.RemoveRange(index + 1, batch.Count - index - 1);
            if (_unanswered is { } unanswered)
            {
                rest.AddRange(unanswered);
            }

            _unanswered = rest;
        }

        ReleaseBatch();
    }

    /// <summary>The batch was acknowledged (or is given up): its buffers go back to the pool.</summary>
    public void ReleaseBatch()
    {
        if (_batch is { } batch)
        {
            _batch = null;
            PendingSince = _unanswered is null ? null : PendingSince;
            foreach (var item in batch)
            {
                item.Release();
            }
        }
    }

    public void QueueHeartbeat() => inner.QueueHeartbeat();

    public void QueueWakeup() => inner.QueueWakeup();

    public void Taken(OutboundItem control) => inner.Taken(control);

    public void Stop() => inner.Stop();

    public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        inner.AcknowledgeAsync(tag, multiple, cancellationToken);

    public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) =>
        inner.RequeueAsync(tag, multiple, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        var unacknowledged = (_batch?.Count ?? 0) + (_unanswered?.Count ?? 0);
        if (unacknowledged > 0)
        {
            metrics.Requeued(RequeueReasons.PollUnacknowledged, unacknowledged);
        }

        ReleaseBatch();
        foreach (var item in TakeUnanswered() ?? [])
        {
            item.Release();
        }

        inner.Stop();
        while (inner.Items.TryRead(out var unread))
        {
            unread.Release();
        }

        await inner.DisposeAsync();
    }
}

/// <summary>A client's own queue (<see cref="QueueTarget"/>), opened as a <see cref="PollSubscription"/>.</summary>
internal sealed class PollTarget(QueueTarget queues, GatewayMetrics metrics) : ISubscriptionTarget
{
    public string Kind => queues.Kind;

    public bool TryResolve(HttpContext context, out string name, out string reason) => queues.TryResolve(context, out name, out reason);

    public async Task<ISubscription> OpenAsync(HttpContext context, string name, IFrameFormat format, CancellationToken cancellationToken)
    {
        var nonce = ((PollFormat)format).Nonce;
        var subscription = new PollSubscription(await queues.OpenAsync(context, name, format, cancellationToken), nonce, metrics);
        subscription.Bound.UnionWith(QueueTarget.BindingsOf(context));
        return subscription;
    }

    /// <summary>A later poll of the held subscription: the bindings its request names and the subscription lacks are made (an SSE reconnect would make them).</summary>
    public Task ReuseAsync(HttpContext context, ISubscription held, CancellationToken cancellationToken) =>
        queues.BindMissingAsync(context, held.Name, ((PollSubscription)held).Bound, cancellationToken);
}
