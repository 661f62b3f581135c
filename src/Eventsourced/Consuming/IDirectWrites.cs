using Eventsourced.Sockets;

namespace Eventsourced.Consuming;

/// <summary>
/// A subscription whose messages its source may write straight to the client's socket (a topic's feed, which writes
/// one shared chunk to every subscriber: <see cref="DirectChunkWriter"/>), once the transport hands it the writer.
/// Until then, and whenever its buffer holds anything, messages go through the buffer as for every subscription.
/// </summary>
internal interface IDirectWrites
{
    /// <summary>Whether the writer may be handed over now (nothing left to acknowledge).</summary>
    bool MayWriteDirectly { get; }

    /// <summary>Messages it may have waiting at most; as many may wait at the socket.</summary>
    int Capacity { get; }

    /// <summary>Messages the source wrote itself.</summary>
    long WrittenDirectly { get; }

    /// <summary>
    /// From now on the source may write with <paramref name="writer"/> whenever the buffer is empty, holding the
    /// writer's lock; the transport then empties the buffer under the same lock, so that the order holds.
    /// </summary>
    void WriteDirectly(DirectChunkWriter writer);

    /// <summary>
    /// The transport's direct writes ended the stream: <see cref="SubscriptionEndReason.WriteTimeout"/> (the client
    /// read nothing for the write timeout), <see cref="SubscriptionEndReason.WriteFailed"/> (the connection failed) or
    /// <see cref="SubscriptionEndReason.SlowReader"/> (more than the limits wait at the socket).
    /// </summary>
    void DirectWriteEnded(SubscriptionEndReason reason);
}
