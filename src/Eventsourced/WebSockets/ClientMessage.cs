using System.Text;
using System.Text.Json;

namespace Eventsourced.WebSockets;

/// <summary>
/// What a client sends over its WebSocket, one JSON object per text message:
/// <list type="bullet">
/// <item><c>{"ack": 17}</c> acknowledges message 17; <c>{"ack": 17, "multiple": true}</c> every message up to 17.</item>
/// <item><c>{"publish": {"to": "lobby", "data": "hi", "type": "chat"}, "ref": "m1"}</c> publishes; <c>data</c> is
/// a string (sent as UTF-8 text), base64 with <c>"base64": true</c>, or any other JSON value (sent as JSON);
/// <c>type</c> becomes the AMQP <c>type</c> property; <c>message_id</c> (optional, a string of 1 to 64 characters) makes
/// the AMQP <c>message_id</c> the same for a publish sent again; <c>ref</c> (a string or number) comes back in the answer.</item>
/// <item><c>{"ping": 5}</c> asks for <c>{"pong": 5}</c>: a page cannot see the WebSocket protocol's own pings, so this is
/// how it finds out that its connection still reaches the gateway.</item>
/// </list>
/// Other properties are ignored; anything else is <see cref="Invalid"/>, and so is a message that would be read one
/// way of two: two of <c>ack</c>, <c>publish</c> and <c>ping</c> (one of them would go unanswered), or a member given twice. An
/// acknowledgement whose <c>ack</c> or <c>multiple</c> is not what it must be is a <see cref="BadAck"/>, and a publish
/// whose members are not what they must be (its <c>ref</c> included) a <see cref="BadPublish"/>: answered, and the
/// connection goes on (closing it would give back, and deliver again, every message the client holds).
/// </summary>
internal abstract record ClientMessage
{
    /// <summary>How deeply a message's JSON may nest (objects and arrays); deeper is refused, not parsed.</summary>
    public const int MaxDepth = 32;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    private ClientMessage()
    {
    }

    public sealed record Ack(ulong Id, bool Multiple) : ClientMessage;

    /// <param name="Ref">The client's <c>ref</c> as JSON text (a string or a number), or null.</param>
    /// <param name="MessageId">The client's <c>message_id</c> for the message (the same when it publishes it again), or null.</param>
    public sealed record Publish(string To, string? Type, byte[] Body, string ContentType, string? Ref, string? MessageId = null) : ClientMessage;

    /// <summary>The most characters of a publish's <c>message_id</c>.</summary>
    public const int MaxMessageId = 64;

    /// <param name="Value">The <c>ping</c> as the client sent it (JSON text), when a number or a string of at most <see cref="MaxEchoedId"/> characters; else null.</param>
    public sealed record Ping(string? Value) : ClientMessage;

    public sealed record Invalid(string Reason) : ClientMessage;

    /// <param name="Id">The <c>ack</c> as the client sent it (JSON text), when a number or a string of at most <see cref="MaxEchoedId"/> characters; else null.</param>
    public sealed record BadAck(string Reason, string? Id) : ClientMessage;

    /// <param name="Ref">The <c>ref</c> as the client sent it (JSON text), when a number or a string of at most <see cref="MaxEchoedId"/> characters; else null.</param>
    /// <param name="RefGiven">Whether the message had a <c>ref</c> at all: one without is answered with its publish's number, as a valid one is.</param>
    public sealed record BadPublish(string Reason, string? Ref, bool RefGiven) : ClientMessage;

    /// <summary>The longest <c>ack</c> or <c>ref</c> value (JSON text) echoed in the answer to a <see cref="BadAck"/> or <see cref="BadPublish"/>.</summary>
    public const int MaxEchoedId = 64;

    public static ClientMessage Parse(ReadOnlyMemory<byte> utf8)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, DocumentOptions);
        }
        catch (JsonException)
        {
            return new Invalid(
                NestsTooDeeply(utf8) ? $"JSON nested more than {MaxDepth} levels deep"
                : HasDuplicateMembers(utf8) ? "a member is given twice"
                : "not a JSON text");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return new Invalid("expected a JSON object");
            }

            var hasAck = root.TryGetProperty("ack", out var ack);
            var hasPublish = root.TryGetProperty("publish", out var publish);
            var hasPing = root.TryGetProperty("ping", out var ping);
            return (hasAck, hasPublish, hasPing) switch
            {
                (true, true, _) => new Invalid("\"ack\" and \"publish\" in one message: send each in a message of its own"),
                (true, false, true) => new Invalid("\"ack\" and \"ping\" in one message: send each in a message of its own"),
                (false, true, true) => new Invalid("\"publish\" and \"ping\" in one message: send each in a message of its own"),
                (true, false, false) => ParseAck(root, ack),
                (false, true, false) => ParsePublish(root, publish),
                (false, false, true) => new Ping(Echo(ping)),
                _ => new Invalid("expected \"ack\", \"publish\" or \"ping\""),
            };
        }
    }

    /// <summary>
    /// Whether reading <paramref name="utf8"/> meets an object or array more than <see cref="MaxDepth"/> levels deep before
    /// anything that is not JSON: the parser refused it for its depth, not its syntax.
    /// </summary>
    private static bool NestsTooDeeply(ReadOnlyMemory<byte> utf8)
    {
        // Nesting is bounded by the message's length (ws.max_message_size), so reading without a depth limit is bounded too.
        var reader = new Utf8JsonReader(utf8.Span, new JsonReaderOptions { MaxDepth = int.MaxValue });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= MaxDepth)
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON before it got that deep.
        }

        return false;
    }

    /// <summary>Whether <paramref name="utf8"/>, which duplicates refused, is JSON once they are allowed.</summary>
    private static bool HasDuplicateMembers(ReadOnlyMemory<byte> utf8)
    {
        try
        {
            using var lenient = JsonDocument.Parse(utf8, DocumentOptions with { AllowDuplicateProperties = true });
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ClientMessage ParseAck(JsonElement root, JsonElement ack)
    {
        var echo = Echo(ack);
        if (ack.ValueKind != JsonValueKind.Number || !ack.TryGetUInt64(out var id) || id == 0)
        {
            return new BadAck("\"ack\" must be a message id (a positive integer)", echo);
        }

        var multiple = false;
        if (root.TryGetProperty("multiple", out var flag))
        {
            if (flag.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return new BadAck("\"multiple\" must be true or false", echo);
            }

            multiple = flag.GetBoolean();
        }

        return new Ack(id, multiple);
    }

    /// <summary>A number's or string's JSON text, when at most <see cref="MaxEchoedId"/> characters; else null.</summary>
    private static string? Echo(JsonElement element) =>
        element.ValueKind is JsonValueKind.Number or JsonValueKind.String && element.GetRawText() is { Length: <= MaxEchoedId } raw ? raw : null;

    private static ClientMessage ParsePublish(JsonElement root, JsonElement publish)
    {
        string? reference = null;
        var refGiven = root.TryGetProperty("ref", out var refElement);
        if (refGiven)
        {
            if (refElement.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
            {
                return new BadPublish("\"ref\" must be a string or a number", null, true);
            }

            reference = refElement.GetRawText();
        }

        var message = ParsePublish(publish, reference);
        return message is Invalid invalid ? new BadPublish(invalid.Reason, refGiven ? Echo(refElement) : null, refGiven) : message;
    }

    /// <summary>The publish, or why it is malformed (an <see cref="Invalid"/> its caller makes a <see cref="BadPublish"/> of).</summary>
    private static ClientMessage ParsePublish(JsonElement publish, string? reference)
    {
        if (publish.ValueKind != JsonValueKind.Object)
        {
            return new Invalid("\"publish\" must be an object");
        }

        if (!publish.TryGetProperty("to", out var toElement) || toElement.ValueKind != JsonValueKind.String)
        {
            return new Invalid("\"publish\" needs \"to\", a string");
        }

        if (!TryGetText(toElement, out var to))
        {
            return NoText("to");
        }

        string? type = null;
        if (publish.TryGetProperty("type", out var typeElement))
        {
            if (typeElement.ValueKind != JsonValueKind.String)
            {
                return new Invalid("\"type\" must be a string of at most 255 bytes");
            }

            if (!TryGetText(typeElement, out type))
            {
                return NoText("type");
            }

            if (Encoding.UTF8.GetByteCount(type) > 255)
            {
                return new Invalid("\"type\" must be a string of at most 255 bytes");
            }
        }

        string? messageId = null;
        if (publish.TryGetProperty("message_id", out var messageIdElement))
        {
            if (messageIdElement.ValueKind != JsonValueKind.String || !TryGetText(messageIdElement, out messageId) || messageId.Length is 0 or > MaxMessageId)
            {
                return new Invalid($"\"message_id\" must be a string of 1 to {MaxMessageId} characters");
            }
        }

        if (!publish.TryGetProperty("data", out var data))
        {
            return new Invalid("\"publish\" needs \"data\"");
        }

        // "base64": "false" (or 1) was taken for false and published the base64 text itself: a flag is true or false.
        var base64 = false;
        if (publish.TryGetProperty("base64", out var flag))
        {
            if (flag.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return new Invalid("\"base64\" must be true or false");
            }

            base64 = flag.GetBoolean();
        }

        if (base64)
        {
            if (data.ValueKind != JsonValueKind.String || !data.TryGetBytesFromBase64(out var bytes))
            {
                return new Invalid("\"data\" must be base64 when \"base64\" is true");
            }

            return new Publish(to, type, bytes, "application/octet-stream", reference, messageId);
        }

        if (data.ValueKind != JsonValueKind.String)
        {
            return new Publish(to, type, Encoding.UTF8.GetBytes(data.GetRawText()), "application/json", reference, messageId);
        }

        return TryGetText(data, out var text)
            ? new Publish(to, type, Encoding.UTF8.GetBytes(text), "text/plain; charset=utf-8", reference, messageId)
            : NoText("data");
    }

    /// <summary>
    /// A JSON string's text. JSON's grammar allows an escaped lone surrogate (<c>"\ud800"</c>), which is no Unicode
    /// text: <see cref="JsonElement.GetString"/> throws <see cref="InvalidOperationException"/> for it.
    /// </summary>
    private static bool TryGetText(JsonElement element, out string text)
    {
        try
        {
            text = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = string.Empty;
            return false;
        }
    }

    private static Invalid NoText(string member) => new($"\"{member}\" is not valid Unicode text (an escaped lone surrogate)");
}
