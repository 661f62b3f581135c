using System.Text;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Sse;

namespace Eventsourced.Tests.Sse;

public sealed class SseFramingTests
{
    /// <summary>The framing rules written the slow, obvious way on strings: the model the bytes must match.</summary>
    private static string Reference(string body)
    {
        var text = body.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Trim(' ', '\n');
        return string.Concat(text.Split('\n').Select(line => "data: " + line + "\n")) + "\n";
    }

    /// <summary>Frames the way a delivery does: into a pooled buffer, given back afterwards.</summary>
    private static byte[] Frame(byte[] body)
    {
        var delivery = new SseFormat().Message(1, body, new RabbitMQ.Client.BasicProperties(), Eventsourced.Metrics.MessageTimestamp.None);
        var frame = delivery.Frame.ToArray();
        delivery.Release();
        return frame;
    }

    [Theory]
    [InlineData("", "data: \n\n")]
    [InlineData("x", "data: x\n\n")]
    [InlineData(" \n \r\n ", "data: \n\n")]
    [InlineData("a\r\nb", "data: a\ndata: b\n\n")]
    [InlineData("a\rb", "data: ab\n\n")]
    [InlineData("a\n\nb", "data: a\ndata: \ndata: b\n\n")]
    [InlineData("\n  a  \n", "data: a\n\n")]
    [InlineData("a \r\n b", "data: a \ndata:  b\n\n")]
    [InlineData("\ta\t", "data: \ta\t\n\n")]
    public void Frame_KnownBodies_MatchTheOriginalsFormat(string body, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(Frame(Encoding.UTF8.GetBytes(body))));
        Assert.Equal(expected, Reference(body));
    }

    [Fact]
    public void Frame_RandomBodies_MatchesTheStringModel()
    {
        // Bodies over an alphabet rich in the characters that matter, plus multi-byte UTF-8.
        var alphabet = new[] { "a", "b", " ", "\r", "\n", "\r\n", "data:", ":", "é", "🎉", "\t" };
        var random = new Random(20261122);
        for (var i = 0; i < 5_000; i++)
        {
            var body = string.Concat(Enumerable.Range(0, random.Next(0, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            var framed = Encoding.UTF8.GetString(Frame(Encoding.UTF8.GetBytes(body)));
            Assert.True(Reference(body) == framed, $"body {Escape(body)}: expected {Escape(Reference(body))}, got {Escape(framed)}");
        }
    }

    [Fact]
    public void Frame_InvalidUtf8_PassesBytesThrough()
    {
        byte[] body = [0xff, (byte)'\n', 0xc3];

        Assert.Equal([.. "data: "u8, 0xff, (byte)'\n', .. "data: "u8, 0xc3, (byte)'\n', (byte)'\n'], Frame(body));
    }

    [Fact]
    public void FramedLength_EqualsWhatWriteWrites()
    {
        var body = SseFraming.Trim("  one\r\ntwo\rthree\n\nfour  "u8);
        var buffer = new byte[256];

        var written = SseFraming.Write(body, buffer);

        Assert.Equal(SseFraming.FramedLength(body), written);
        Assert.Equal("data: one\ndata: twothree\ndata: \ndata: four\n\n", Encoding.UTF8.GetString(buffer, 0, written));
    }

    [Fact]
    public void Comments_AreWhatBrowsersIgnore()
    {
        Assert.Equal(": SSE stream\n\n", Encoding.UTF8.GetString(SseFraming.Opening));
        Assert.Equal(": heartbeat\n\n", Encoding.UTF8.GetString(SseFraming.Heartbeat));
    }

    private static string Escape(string s) => s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>The fields the slow, obvious way: the model of <see cref="SseFormat"/> with fields (<c>id:</c> from the <c>message_id</c>, empty without one).</summary>
    private static string ReferenceWithFields(string body, string? type, string? id)
    {
        static string? Clean(string? value) => string.IsNullOrEmpty(value) ? null : value.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Replace("\0", "", StringComparison.Ordinal) is { Length: > 0 } v ? v : null;
        // A type also loses surrounding white space (MessageType), as in WebSocket and long-poll frames.
        var fields = (Clean(type)?.Trim() is { Length: > 0 } t ? $"event: {t}\n" : "") + (Clean(id) is { } i ? $"id: {i}\n" : "id: \n");
        return fields + Reference(body);
    }

    [Fact]
    public void FrameWithFields_RandomTypesAndIds_MatchesTheStringModel()
    {
        var alphabet = new[] { "a", " ", "\r", "\n", "\0", "é", "🎉", ":", "data:" };
        var random = new Random(20261202);
        var format = new SseFormat(new SseFields(true, SseIdSource.MessageId, 0));
        for (var i = 0; i < 5_000; i++)
        {
            string? Text() => random.Next(4) == 0 ? null : string.Concat(Enumerable.Range(0, random.Next(0, 8)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            var (body, type, id) = (Text() ?? "", Text(), Text());
            var delivery = format.Message(1, Encoding.UTF8.GetBytes(body), new RabbitMQ.Client.BasicProperties { Type = type, MessageId = id }, MessageTimestamp.None);
            var framed = Encoding.UTF8.GetString(delivery.Frame);
            delivery.Release();
            Assert.True(ReferenceWithFields(body, type, id) == framed, $"body {Escape(body)} type {Escape(type ?? "(none)")} id {Escape(id ?? "(none)")}: got {Escape(framed)}");
        }
    }

    /// <summary>
    /// With <c>sse.id: true</c>, a message without a <c>message_id</c> gets an empty <c>id:</c>: without it, the browser
    /// gave it the previous message's id as its <c>lastEventId</c> (the last id sent), and a page that drops copies by
    /// <c>lastEventId</c> dropped it.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("\r\n")]
    public void Frame_MessageIdSource_MessageWithoutOne_ResetsTheLastEventId(string? messageId)
    {
        var format = new SseFormat(new SseFields(false, SseIdSource.MessageId, 0));

        var delivery = format.Message(1, "x"u8, new RabbitMQ.Client.BasicProperties { MessageId = messageId }, MessageTimestamp.None);

        Assert.Equal("id: \ndata: x\n\n", Encoding.UTF8.GetString(delivery.Frame));
        delivery.Release();
    }

    [Fact]
    public void Frame_OriginalFields_IgnoresTypeAndMessageId()
    {
        var delivery = new SseFormat().Message(1, "x"u8, new RabbitMQ.Client.BasicProperties { Type = "t", MessageId = "m" }, MessageTimestamp.None);

        Assert.Equal("data: x\n\n", Encoding.UTF8.GetString(delivery.Frame));
        delivery.Release();
    }

    [Fact]
    public void Frame_StreamOffsetId_ComesFromTheDeliverysOffsetHeader()
    {
        var format = new SseFormat(new SseFields(false, SseIdSource.StreamOffset, 0));
        var properties = new RabbitMQ.Client.BasicProperties
        {
            MessageId = "not this",
            Headers = new Dictionary<string, object?> { [StreamOffsets.Header] = 12345678901L },
        };

        var delivery = format.Message(1, "x"u8, properties, MessageTimestamp.None);
        var withoutOffset = format.Message(2, "y"u8, new RabbitMQ.Client.BasicProperties(), MessageTimestamp.None);

        Assert.Equal("id: 12345678901\ndata: x\n\n", Encoding.UTF8.GetString(delivery.Frame));
        Assert.Equal("data: y\n\n", Encoding.UTF8.GetString(withoutOffset.Frame));
        delivery.Release();
        withoutOffset.Release();
    }

    [Fact]
    public void Opening_RetryOnlyWhenConfigured()
    {
        Assert.Equal(": SSE stream\n\n", Encoding.UTF8.GetString(new SseFormat().Opening));
        Assert.Equal(": SSE stream\n\nretry: 1500\n\n", Encoding.UTF8.GetString(new SseFormat(new SseFields(false, SseIdSource.None, 1500)).Opening));
    }

    [Fact]
    public void Heartbeat_WithAnEventType_IsAnEventWithEmptyData_WhichAClientDispatches_KeepingTheLastId()
    {
        Assert.Equal(": heartbeat\n\n", Encoding.UTF8.GetString(new SseFormat().Heartbeat.Frame.ToArray()));
        var format = new SseFormat(new SseFields(false, SseIdSource.StreamOffset, 0, "heartbeat"));
        Assert.Equal("event: heartbeat\ndata:\n\n", Encoding.UTF8.GetString(format.Heartbeat.Frame.ToArray()));
        Assert.False(format.Heartbeat.IsMessage);

        // As a client parses it after an event with an id: a "heartbeat" event with empty data, the id unchanged.
        var parser = System.Net.ServerSentEvents.SseParser.Create(new MemoryStream([.. format.Opening, .. SseFraming.IdOnly("41"), .. format.Heartbeat.Frame.ToArray()]));
        var item = Assert.Single(parser.Enumerate());
        Assert.Equal(("heartbeat", ""), (item.EventType, item.Data));
        Assert.Equal("41", parser.LastEventId);
    }

    [Fact]
    public void IdOnly_IsABlockWithoutData_WhichAnEventSourceTakesAsItsLastIdWithoutAnEvent()
    {
        var block = SseFraming.IdOnly("41");
        Assert.Equal("id: 41\n\n", Encoding.UTF8.GetString(block));

        // As a client parses it (System.Net.ServerSentEvents follows the EventSource rules): no event, the id kept.
        var parser = System.Net.ServerSentEvents.SseParser.Create(new MemoryStream([.. new SseFormat().Opening, .. block]));
        Assert.Empty(parser.Enumerate());
        Assert.Equal("41", parser.LastEventId);
        Assert.Throws<ArgumentException>(() => SseFraming.IdOnly("\r\n"));
    }
}
