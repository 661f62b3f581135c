using System.Threading.Channels;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.LongPolling;

/// <summary>
/// A subscription as long-polling holds it between polls: the queue's subscription, and the batch the last
/// poll answered, unacknowledged until a poll names its last id. Ending it gives the batch's buffers back;
/// its messages go back to the queue with the channel (counted as requeued, <c>poll_unacknowledged</c>).
/// </summary>
internal sealed class PollSubscription(ISubscription inner, string nonce, GatewayMetrics metrics) : ISubscription
{
    private List<OutboundItem>? _batch;

    public string Name => inner.Name;

    public string Node => inner.Node;

    public ChannelReader<OutboundItem> Items => inner.Items;

    public SubscriptionEndReason? EndReason => inner.EndReason;

    /// <summary>The last answer's messages, waiting for the poll that acknowledges them; null when none waits.</summary>
    public IReadOnlyList<OutboundItem>? Batch => _batch;

    /// <summary>The id a poll names (<c>?ack=</c>) to acknowledge <see cref="Batch"/>.</summary>
    public string? BatchLastId => _batch is [.., var last] ? Id(last.Tag) : null;

    /// <summary>The id of the delivery <paramref name="tag"/>, as the poll's answer carries it.</summary>
    public string Id(ulong tag) => WebSockets.JsonMessage.Id(nonce, tag);

    /// <summary><paramref name="batch"/> was answered and waits for its acknowledgement.</summary>
    public void Answered(List<OutboundItem> batch) => _batch = batch.Count > 0 ? batch : null;

    /// <summary>The batch was acknowledged (or is given up): its buffers go back to the pool.</summary>
    public void ReleaseBatch()
    {
        if (_batch is { } batch)
        {
            _batch = null;
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
        if (_batch is { Count: var unacknowledged })
        {
            metrics.Requeued(RequeueReasons.PollUnacknowledged, unacknowledged);
        }

        ReleaseBatch();
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
        return new PollSubscription(await queues.OpenAsync(context, name, format, cancellationToken), nonce, metrics);
    }
}
