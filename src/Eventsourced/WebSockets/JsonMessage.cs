using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.WebSockets;

/// <summary>
/// A delivery as the JSON object the WebSocket frames and the long-poll arrays carry:
/// <c>{"id": 17, "type": "price", "data": "..."}</c>. <c>type</c> is the AMQP <c>type</c> property as
/// <see cref="MessageType"/> has it (null without one, or with one that is blank). <c>from</c> is there only when the message names its sender (the <c>sender</c> header,
/// <see cref="MessageSender"/>): <c>{"id": 18, "type": "chat", "from": "alice", "data": "hi"}</c>. <c>message_id</c> is
/// there only when the message has a non-empty AMQP <c>message_id</c>: the one thing that stays the same when a
/// message comes again (the <c>id</c> is the delivery's), so that a client can drop a redelivery. <c>data</c> is the body as a string when the body is valid UTF-8 (the common case: text or
/// JSON published as text), else the body in base64 with <c>"base64": true</c> after it. The body is never
/// parsed: a JSON body arrives as a string for the page to parse. Written with System.Text.Json's
/// <see cref="Utf8JsonWriter"/>, escaping only what JSON requires (the frame is not HTML).
/// </summary>
internal static class JsonMessage
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    // The consumer frames on its channel's dispatcher thread; one writer per thread, reused.
    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    [ThreadStatic]
    private static PooledBufferWriter? t_buffer;

    /// <summary>
    /// The delivery <paramref name="tag"/> framed into a rented buffer. Its <c>id</c> is the tag as a number,
    /// or, with an <paramref name="idPrefix"/>, the string <c>PREFIX-TAG</c>.
    /// </summary>
    public static OutboundItem Frame(ulong tag, string? idPrefix, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        Frame(tag, tag, idPrefix, body, properties, published);

    /// <summary>The delivery <paramref name="tag"/> framed with <paramref name="id"/> as its <c>id</c> (a topic event's stream offset).</summary>
    public static OutboundItem Frame(ulong tag, ulong id, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        Frame(tag, id, null, body, properties, published);

    private static OutboundItem Frame(ulong tag, ulong id, string? idPrefix, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published)
    {
        var text = Utf8.IsValid(body);
        // The type as an event stream shows it (a blank one is no type, no event: line): one message, one meaning on every transport.
        var type = properties.IsTypePresent() ? MessageType.Of(properties.Type) : null;
        var sender = properties.Headers is null ? null : MessageSender.Find(properties);
        var messageId = properties.IsMessageIdPresent() && !string.IsNullOrEmpty(properties.MessageId) ? properties.MessageId : null;
        var estimate = 48 + (idPrefix?.Length ?? 0) + (type?.Length ?? 0) + (sender is null ? 0 : MessageSender.MaxBytes + 16)
            + (messageId is null ? 0 : messageId.Length + 16)
            + (text ? body.Length + (body.Length / 16) : ((body.Length + 2) / 3 * 4));
        var buffer = t_buffer ??= new PooledBufferWriter();
        buffer.Start(estimate);
        var json = t_json;
        if (json is null)
        {
            json = t_json = new Utf8JsonWriter(buffer, WriterOptions);
        }
        else
        {
            json.Reset(buffer);
        }

        json.WriteStartObject();
        if (idPrefix is null)
        {
            json.WriteNumber("id"u8, id);
        }
        else
        {
            WriteStringId(json, idPrefix, tag);
        }

        if (type is null)
        {
            json.WriteNull("type"u8);
        }
        else
        {
            json.WriteString("type"u8, type);
        }

        if (messageId is not null)
        {
            json.WriteString("message_id"u8, messageId);
        }

        if (sender is byte[] utf8Sender)
        {
            json.WriteString("from"u8, utf8Sender);
        }
        else if (sender is string textSender)
        {
            json.WriteString("from"u8, textSender);
        }

        if (text)
        {
            json.WriteString("data"u8, body);
        }
        else
        {
            json.WriteBase64String("data"u8, body);
            json.WriteBoolean("base64"u8, true);
        }

        json.WriteEndObject();
        json.Flush();
        var frame = buffer.Detach(out var length);
        return OutboundItem.Message(tag, frame, length, published);
    }

    /// <summary>The string id <c>PREFIX-TAG</c> of a delivery.</summary>
    public static string Id(string prefix, ulong tag) => string.Create(null, stackalloc char[64], $"{prefix}-{tag}");

    private static void WriteStringId(Utf8JsonWriter json, string prefix, ulong tag)
    {
        Span<char> id = stackalloc char[prefix.Length + 21];
        prefix.CopyTo(id);
        id[prefix.Length] = '-';
        tag.TryFormat(id[(prefix.Length + 1)..], out var digits, default, System.Globalization.CultureInfo.InvariantCulture);
        json.WriteString("id"u8, id[..(prefix.Length + 1 + digits)]);
    }
}
