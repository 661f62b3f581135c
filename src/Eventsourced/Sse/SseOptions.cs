using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Sse;

/// <summary>
/// The <c>sse</c> section (not in the original): SSE fields taken from the AMQP message, each opt-in, so that
/// a queue's stream stays the original's wire format (only <c>data:</c> lines) unless configured otherwise.
/// Topic streams always carry <c>id:</c> (the stream offset); <c>event</c> and <c>retry</c> apply to them too.
/// </summary>
public sealed class SseOptions
{
    /// <summary>Upper bound of <c>sse.retry</c>: a day, in milliseconds.</summary>
    public const int MaxRetryMilliseconds = 86_400_000;

    /// <summary><c>sse.event</c>: an <c>event:</c> line from the AMQP <c>type</c> property, when the message has one.</summary>
    [ConfigurationKeyName("event")]
    public bool Event { get; set; }

    /// <summary><c>sse.id</c>: an <c>id:</c> line from the AMQP <c>message_id</c> property, when the message has one (queue streams).</summary>
    [ConfigurationKeyName("id")]
    public bool Id { get; set; }

    /// <summary>
    /// <c>sse.direct_writes</c>: streams over plain HTTP/1.1 (not TLS or HTTP/2) are written straight to the client's
    /// socket once they run, one system call per batch (and a topic's feed writes each event to every live subscriber
    /// itself), instead of through the server's output path. Off: every write goes through Kestrel.
    /// </summary>
    [ConfigurationKeyName("direct_writes")]
    public bool DirectWrites { get; set; } = true;

    /// <summary><c>sse.retry</c>: milliseconds a browser waits before reconnecting, sent as <c>retry:</c> when a stream opens; 0 sends none.</summary>
    [ConfigurationKeyName("retry")]
    [Range(0, MaxRetryMilliseconds)]
    public int RetryMilliseconds { get; set; }
}
