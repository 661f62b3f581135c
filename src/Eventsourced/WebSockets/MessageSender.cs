using System.Buffers;
using System.Text.Unicode;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// The AMQP header <c>sender</c>: who sent a message. The gateway sets it on every publish of a WebSocket client
/// that authenticated with a token, to the token's <c>sub</c> (the client cannot set headers, so cannot choose it);
/// services publishing with their own AMQP clients may set it too (they hold broker credentials and are trusted).
/// The WebSocket frames and long-poll messages show it as <c>"from"</c> when it is a string of 1 to
/// <see cref="MaxBytes"/> bytes of valid UTF-8; otherwise (no header, another type, empty, longer, invalid) they
/// have no <c>from</c> member.
/// </summary>
internal static class MessageSender
{
    /// <summary>The header's name.</summary>
    public const string HeaderName = "sender";

    /// <summary>The longest sender shown, in UTF-8 bytes: a token's <c>sub</c> is far shorter; a header of kilobytes is no name.</summary>
    public const int MaxBytes = 256;

    /// <summary>
    /// The sender to show for a delivery: the header's UTF-8 bytes as the broker delivered them (a <c>byte[]</c>), or a
    /// <c>string</c> (properties made in this process); null when there is none to show. Looks at the headers only
    /// when the message has any, and allocates nothing.
    /// </summary>
    public static object? Find(IReadOnlyBasicProperties properties)
    {
        if (properties.Headers is not { } headers || !headers.TryGetValue(HeaderName, out var value))
        {
            return null;
        }

        return value switch
        {
            byte[] bytes when bytes.Length is > 0 and <= MaxBytes && Utf8.IsValid(bytes) => bytes,
            string text when text.Length is > 0 and <= MaxBytes && IsShortValidText(text) => text,
            _ => null,
        };
    }

    /// <summary>Whether <paramref name="text"/> (no lone surrogates) takes at most <see cref="MaxBytes"/> bytes as UTF-8.</summary>
    private static bool IsShortValidText(string text)
    {
        Span<byte> utf8 = stackalloc byte[MaxBytes];
        return Utf8.FromUtf16(text, utf8, out _, out _, replaceInvalidSequences: false) == OperationStatus.Done;
    }

    /// <summary>
    /// The AMQP <c>message_id</c> of a client's publish that gave a <c>message_id</c> of its own: derived from it and the
    /// publisher (<see cref="PublishRateLimits.PublisherKey"/>: the token's <c>sub</c>; without tokens the client's
    /// address), 32 hex digits like the gateway's own ids. A publish sent again with the same <c>message_id</c> by the same
    /// publisher carries the same id, so that readers drop the copy by it; another publisher giving the same text gets
    /// another id, so that no client can make readers drop someone else's message. The publisher's length goes first, so
    /// that no publisher's end reads as the text's start (a NUL in either).
    /// </summary>
    public static string MessageId(string publisher, string clientMessageId)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        var input = System.Text.Encoding.UTF8.GetBytes($"eventsourced message_id\0{publisher.Length}\0{publisher}\0{clientMessageId}");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(input), 0, 16);
    }
}
