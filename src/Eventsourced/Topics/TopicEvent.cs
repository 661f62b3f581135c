using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.Topics;

/// <summary>
/// One event of a topic as its feed received it: the stream offset, the body (copied out of the client library's
/// pooled buffer) and its properties, and its frame for each transport format its subscribers use, made once and
/// shared by all of them. Framed under the feed's lock only.
/// </summary>
internal sealed class TopicEvent(long offset, byte[] body, IReadOnlyBasicProperties properties, MessageTimestamp published)
{
    private (IFrameFormat Format, OutboundItem Item)[] _frames = [];

    public long Offset { get; } = offset;

    /// <summary>Body plus frames: what keeping the event in memory costs, roughly.</summary>
    public long Size => body.Length + _frames.Sum(f => (long)f.Item.Length);

    /// <summary>The tag a subscription's items carry for this event: the offset plus one (a tag is never 0).</summary>
    public ulong Tag => (ulong)Offset + 1;

    public static long OffsetOf(ulong tag) => (long)tag - 1;

    /// <summary>The event framed by <paramref name="format"/>, as an item every subscriber of that format can share.</summary>
    public OutboundItem ItemFor(IFrameFormat format)
    {
        foreach (var (known, item) in _frames)
        {
            if (ReferenceEquals(known, format))
            {
                return item;
            }
        }

        var framed = format.Message(Tag, body, properties, published);
        var shared = OutboundItem.Shared(Tag, framed.Frame.ToArray(), published);
        framed.Release();
        _frames = [.. _frames, (format, shared)];
        return shared;
    }
}
