using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
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

    /// <summary>
    /// <c>sse.heartbeat_event</c>: heartbeats as an event of this type with empty data (<c>event: NAME</c>,
    /// <c>data:</c>), which a page sees with <c>addEventListener(NAME, ...)</c> and can time (a connection that died
    /// without a word sends neither events nor heartbeats); <c>''</c> (the default): the <c>: heartbeat</c> comment,
    /// which no page sees.
    /// </summary>
    [ConfigurationKeyName("heartbeat_event")]
    [ValueRule<SseEventName>]
    public string HeartbeatEvent { get; set; } = "";

    /// <summary>
    /// <c>sse.end_event</c>: when the gateway ends a stream (the token expired, it shuts down, the broker ended the
    /// subscription), an event of this type whose data says why (<c>token expired</c>, ...), after the comment that
    /// says it too, so that a page can act before its EventSource reconnects (fetch a new token); <c>''</c> (the
    /// default): the comment only, which no page sees.
    /// </summary>
    [ConfigurationKeyName("end_event")]
    [ValueRule<SseEventName>]
    public string EndEvent { get; set; } = "";

    /// <summary><c>sse.retry</c>: milliseconds a browser waits before reconnecting, sent as <c>retry:</c> when a stream opens; 0 sends none.</summary>
    [ConfigurationKeyName("retry")]
    [Range(0, MaxRetryMilliseconds)]
    public int RetryMilliseconds { get; set; }
}

/// <summary>
/// An SSE event type the gateway sends (<c>sse.heartbeat_event</c>, <c>sse.end_event</c>): empty, or up to 64 letters, digits and
/// <c>-_.:</c>. Not <c>message</c> (it would reach every page's <c>onmessage</c>), nor <c>error</c> or <c>open</c> (a
/// page's <c>onerror</c> and <c>onopen</c>).
/// </summary>
internal sealed class SseEventName : IValueRule
{
    private SseEventName()
    {
    }

    public static string? Check(string value) =>
        value.Length == 0 ? null
        : value.Length > 64 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')
            ? $"invalid event type {ConfigText.Quote(value)} (allowed: up to 64 letters, digits and -_.:)"
        : value is "message" or "error" or "open"
            ? $"event type {ConfigText.Quote(value)} would reach the page's on{value}; choose another (for example heartbeat)"
        : null;
}
