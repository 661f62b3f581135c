using System.Threading.Channels;

namespace Eventsourced.Consuming;

/// <summary>
/// A client's hold on what it reads (its queue, or a topic), as a transport sees it: items to write,
/// framed for that transport, and a way to acknowledge them to the broker once the client has them.
/// One transport session reads it; ending it (<see cref="IAsyncDisposable.DisposeAsync"/>) gives back
/// everything not acknowledged.
/// </summary>
internal interface ISubscription : IAsyncDisposable
{
    /// <summary>The queue's or topic's name, for logs.</summary>
    string Name { get; }

    /// <summary>The broker node it is consumed from (<c>host:port</c>), for logs.</summary>
    string Node { get; }

    /// <summary>Messages and control items in order; completed when the subscription ends.</summary>
    ChannelReader<OutboundItem> Items { get; }

    /// <summary>Why the broker's side ended, once it has; nothing more can be acknowledged then.</summary>
    SubscriptionEndReason? EndReason { get; }

    /// <summary>Queues a heartbeat unless one waits already.</summary>
    void QueueHeartbeat();

    /// <summary>Queues a wake-up for the reader (to look at pending acknowledgements) unless one waits already.</summary>
    void QueueWakeup();

    /// <summary>The reader took a control item; another of its kind may be queued.</summary>
    void Taken(OutboundItem control);

    /// <summary>The reader is done: it takes nothing more, and what comes after goes back unacknowledged.</summary>
    void Stop();

    /// <summary>
    /// Whether what the reader writes must be acknowledged (<see cref="AcknowledgeAsync"/>) once the client has
    /// it. A topic subscriber reading the shared feed has nothing to acknowledge: the writer then skips the
    /// per-flush bookkeeping (TCP acknowledgements, wake-ups) that a queue needs. May change while a subscription runs.
    /// </summary>
    bool RequiresAcknowledgement => true;

    /// <summary>Acknowledges the delivery <paramref name="tag"/>, and with <paramref name="multiple"/> every one before it.</summary>
    ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default);

    /// <summary>Gives the delivery <paramref name="tag"/> (and with <paramref name="multiple"/> every unacknowledged one before it) back to be delivered again.</summary>
    ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default);
}
