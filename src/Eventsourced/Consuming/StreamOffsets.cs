using RabbitMQ.Client;

namespace Eventsourced.Consuming;

/// <summary>The offset a stream queue gives each message: consumed from with <c>x-stream-offset</c>, delivered in the header of that name.</summary>
internal static class StreamOffsets
{
    /// <summary>The consume argument and the delivery header.</summary>
    public const string Header = "x-stream-offset";

    /// <summary>The delivery's stream offset, or null when it came from a queue that is not a stream.</summary>
    public static long? Of(IReadOnlyBasicProperties properties) =>
        properties.Headers is { } headers && headers.TryGetValue(Header, out var value)
            ? value switch
            {
                long l and >= 0 => l,
                int i and >= 0 => i,
                uint u => u,
                ulong u when u <= long.MaxValue => (long)u,
                _ => null,
            }
            : null;
}
