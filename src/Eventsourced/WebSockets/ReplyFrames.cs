using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Eventsourced.WebSockets;

/// <summary>
/// The gateway's answers to what a client sends: <c>{"published": REF}</c> once the broker confirmed a
/// publish, <c>{"error": "why", "ref": REF}</c> when a publish failed or was malformed (no <c>ref</c> member when a
/// malformed one's <c>ref</c> was of another kind or long), <c>{"error": "why", "ack": ID}</c> for
/// an acknowledgement that named no outstanding message, or was malformed (ID as the client sent it, when short; no
/// <c>ack</c> member otherwise). REF is the client's <c>ref</c>, or the publish's
/// number on this connection (1, 2, ...) when it gave none; <c>{"pong": VALUE}</c> answers <c>{"ping": VALUE}</c>. On a topic subscribed to for new events only, the first
/// frame may be <c>{"lastEventId": "ID"}</c>: where the subscriber starts, before its first event (see
/// <see cref="Consuming.IStartPosition"/>).
/// </summary>
internal static class ReplyFrames
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] Published(string reference) => Write(json =>
    {
        json.WritePropertyName("published"u8);
        json.WriteRawValue(reference, skipInputValidation: true);
    });

    /// <summary>A publish that failed or was malformed: <paramref name="reference"/> is the client's <c>ref</c> (JSON text) or the publish's number, or null (left out: a malformed one's <c>ref</c> of another kind, or long).</summary>
    public static byte[] PublishFailed(string? reference, string reason) => ErrorAbout("ref", reference, reason);

    public static byte[] AckFailed(ulong id, string reason) => Write(json =>
    {
        json.WriteString("error"u8, reason);
        json.WriteNumber("ack"u8, id);
    });

    /// <summary>An acknowledgement that is malformed: <paramref name="id"/> is the client's <c>ack</c> (JSON text), or null (left out).</summary>
    public static byte[] AckRefused(string? id, string reason) => ErrorAbout("ack", id, reason);

    /// <summary><c>{"pong": VALUE}</c>: the answer to a ping, <paramref name="value"/> its value (JSON text), or null (<c>null</c>: a value of another kind, or long).</summary>
    public static byte[] Pong(string? value) => Write(json =>
    {
        json.WritePropertyName("pong"u8);
        if (value is null)
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteRawValue(value, skipInputValidation: true);
        }
    });

    /// <summary><c>{"lastEventId": "ID"}</c>: reconnecting with <c>?lastEventId=ID</c> resumes where this connection started.</summary>
    public static byte[] StartsAfter(string id) => Write(json => json.WriteString("lastEventId"u8, id));

    /// <summary><c>{"error": REASON, MEMBER: RAW}</c>, without MEMBER when <paramref name="raw"/> (JSON text) is null.</summary>
    private static byte[] ErrorAbout(string member, string? raw, string reason) => Write(json =>
    {
        json.WriteString("error"u8, reason);
        if (raw is not null)
        {
            json.WritePropertyName(member);
            json.WriteRawValue(raw, skipInputValidation: true);
        }
    });

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
