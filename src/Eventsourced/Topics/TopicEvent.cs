using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Sockets;
using RabbitMQ.Client;

namespace Eventsourced.Topics;

/// <summary>
/// One event of a topic as its feed received it: the stream offset, the body (copied out of the client library's
/// pooled buffer) and its properties, and its frame for each transport format its subscribers use, made once and
/// shared by all of them (also as an HTTP/1.1 chunk, which the feed writes straight to subscribers' sockets:
/// <see cref="DirectChunkWriter"/>). Framed under the feed's lock only.
/// </summary>
internal sealed class TopicEvent(long offset, byte[] body, IReadOnlyBasicProperties properties, MessageTimestamp published)
{
    private (IFrameFormat Format, OutboundItem Item, byte[] Chunk)[] _frames = [];

    public long Offset { get; } = offset;

    /// <summary>Body plus frames: what keeping the event in memory costs, roughly.</summary>
    public long Size => body.Length + _frames.Sum(f => (long)f.Item.Length + f.Chunk.Length);

    /// <summary>The tag a subscription's items carry for this event: the offset plus one (a tag is never 0).</summary>
    public ulong Tag => (ulong)Offset + 1;

    public static long OffsetOf(ulong tag) => (long)tag - 1;

    /// <summary>The event framed by <paramref name="format"/>, as an item every subscriber of that format can share.</summary>
    public OutboundItem ItemFor(IFrameFormat format) => FramesFor(format).Item;

    /// <summary>The event framed by <paramref name="format"/>: the shared item, and its frame as one HTTP/1.1 chunk.</summary>
    public (OutboundItem Item, byte[] Chunk) FramesFor(IFrameFormat format)
    {
        foreach (var (known, item, chunk) in _frames)
        {
            if (ReferenceEquals(known, format))
            {
                return (item, chunk);
            }
        }

        var framed = format.Message(Tag, body, properties, published);
        var shared = OutboundItem.Shared(Tag, framed.Frame.ToArray(), published);
        framed.Release();
        var sharedChunk = DirectChunkWriter.Chunk(shared.Frame);
        _frames = [.. _frames, (format, shared, sharedChunk)];
        return (shared, sharedChunk);
    }
}
