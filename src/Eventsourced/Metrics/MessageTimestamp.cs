using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace Eventsourced.Metrics;

/// <summary>
/// When a message was published, in Unix milliseconds, for <c>eventsourced.delivery.latency</c>: the
/// <c>timestamp_in_ms</c> header when present (RabbitMQ's message-timestamp plugin and many publishers set it),
/// else the AMQP <c>timestamp</c> property, which has whole seconds only. Zero when neither is there.
/// </summary>
internal readonly record struct MessageTimestamp(long UnixMilliseconds)
{
    public const string HeaderName = "timestamp_in_ms";

    public static MessageTimestamp None => default;

    public bool IsPresent => UnixMilliseconds > 0;

    /// <summary>The AMQP property, in seconds; a value too large for milliseconds saturates (and reads as the far future).</summary>
    public static MessageTimestamp FromSeconds(long unixSeconds) =>
        new(unixSeconds <= 0 ? 0 : unixSeconds >= long.MaxValue / 1000 ? long.MaxValue : unixSeconds * 1000);

    public static MessageTimestamp From(IReadOnlyBasicProperties properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        if (properties.Headers is { } headers && headers.TryGetValue(HeaderName, out var header) && Milliseconds(header) is > 0 and var milliseconds)
        {
            return new MessageTimestamp(milliseconds);
        }

        return properties.IsTimestampPresent() ? FromSeconds(properties.Timestamp.UnixTime) : None;
    }

    /// <summary>A header value as whole milliseconds: any AMQP integer, a finite float, or digits as a (long) string; else 0.</summary>
    private static long Milliseconds(object? value) => value switch
    {
        long l => l,
        int i => i,
        uint u => u,
        short s => s,
        ushort us => us,
        byte b => b,
        sbyte sb => sb,
        ulong ul => ul <= long.MaxValue ? (long)ul : 0,
        double d when double.IsFinite(d) && d is > 0 and < long.MaxValue => (long)d,
        float f when float.IsFinite(f) && f is > 0 and < long.MaxValue => (long)f,
        decimal m when m is > 0 and < long.MaxValue => (long)m,
        byte[] bytes => Parse(Encoding.UTF8.GetString(bytes)),
        string text => Parse(text),
        _ => 0,
    };

    private static long Parse(string text) =>
        long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
