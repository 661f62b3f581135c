using System.Text;
using System.Text.Json;
using Eventsourced.Metrics;
using Eventsourced.WebSockets;
using RabbitMQ.Client;

namespace Eventsourced.Tests.WebSockets;

public sealed class JsonMessageTests
{
    [Theory]
    [InlineData("plain")]
    [InlineData("")]
    [InlineData("quotes \" and \\ backslashes, \r\n\t control \u0001 characters")]
    [InlineData("Grüße 東京 🎉👩‍💻 </script><b>")]
    [InlineData("{\"already\": \"json\"}")]
    public void Frame_Utf8Body_IsTheTextAsAJsonString(string body)
    {
        var frame = Frame(17, null, Encoding.UTF8.GetBytes(body), new BasicProperties());

        Assert.Equal(17ul, frame.GetProperty("id").GetUInt64());
        Assert.Equal(JsonValueKind.Null, frame.GetProperty("type").ValueKind);
        Assert.Equal(body, frame.GetProperty("data").GetString());
        Assert.False(frame.TryGetProperty("base64", out _));
    }

    [Fact]
    public void Frame_InvalidUtf8_IsBase64WithAFlag()
    {
        byte[] body = [0x41, 0xc3, 0x28, 0xff];

        var frame = Frame(1, null, body, new BasicProperties { Type = "bin" });

        Assert.Equal("bin", frame.GetProperty("type").GetString());
        Assert.Equal(body, frame.GetProperty("data").GetBytesFromBase64());
        Assert.True(frame.GetProperty("base64").GetBoolean());
    }

    [Fact]
    public void Frame_WithAPrefix_HasAStringId()
    {
        var frame = Frame(42, "0a1b2c", "x"u8.ToArray(), new BasicProperties());

        Assert.Equal("0a1b2c-42", frame.GetProperty("id").GetString());
        Assert.Equal("0a1b2c-42", JsonMessage.Id("0a1b2c", 42));
    }

    [Fact]
    public void Frame_LargerThanTheEstimate_GrowsAndStaysExact()
    {
        // Every byte escaped (\u0001 is six bytes): far beyond the first buffer.
        var body = Enumerable.Repeat((byte)1, 100_000).ToArray();

        var frame = Frame(1, null, body, new BasicProperties());

        Assert.Equal(Encoding.UTF8.GetString(body), frame.GetProperty("data").GetString());
    }

    [Theory]
    [InlineData("m-1")]
    [InlineData("6f1c2b0e9a8d4c7b8e2f1a0b3c4d5e6f")]
    [InlineData("quotes \" and \\ backslashes, \r\n control \u0001 Grüße 🎉")]
    public void Frame_MessageId_IsShown_SoThatARedeliveryCanBeRecognized(string messageId)
    {
        var frame = Frame(5, "0a1b2c", "x"u8.ToArray(), new BasicProperties { MessageId = messageId, Type = "chat" });

        Assert.Equal(messageId, frame.GetProperty("message_id").GetString());
        Assert.Equal("chat", frame.GetProperty("type").GetString());
        Assert.Equal("x", frame.GetProperty("data").GetString());
    }

    [Fact]
    public void Frame_WithoutAMessageId_HasNoMessageIdMember()
    {
        Assert.False(Frame(1, null, "x"u8.ToArray(), new BasicProperties()).TryGetProperty("message_id", out _));
        Assert.False(Frame(2, null, "x"u8.ToArray(), new BasicProperties { MessageId = "" }).TryGetProperty("message_id", out _));
    }

    [Fact]
    public void Frame_AnEmptyType_IsNullAsNoType_AsAnEventStreamShowsIt()
    {
        // An EventSource sees no event: line for an empty type (the page's onmessage), as for none; a WebSocket or a poll
        // saw "type": "" for one and null for the other.
        Assert.Equal(JsonValueKind.Null, Frame(1, null, "x"u8.ToArray(), new BasicProperties { Type = "" }).GetProperty("type").ValueKind);
        Assert.Equal(JsonValueKind.Null, Frame(2, null, "x"u8.ToArray(), new BasicProperties()).GetProperty("type").ValueKind);
    }

    [Fact]
    public void Frame_WithoutASenderHeader_HasNoFrom()
    {
        var plain = Frame(1, null, "x"u8.ToArray(), new BasicProperties());
        var otherHeaders = Frame(2, null, "x"u8.ToArray(), new BasicProperties { Headers = new Dictionary<string, object?> { ["x-stream-offset"] = 7L } });

        Assert.False(plain.TryGetProperty("from", out _));
        Assert.False(otherHeaders.TryGetProperty("from", out _));
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("quotes \" and \\ backslashes, \r\n\t control \u0001 characters")]
    [InlineData("Grüße 東京 🎉 </script>")]
    public void Frame_SenderHeader_IsFrom_EscapedAsJson(string sender)
    {
        // As the broker delivers a string header (bytes), and as properties made in this process hold it (a string).
        foreach (object value in new object[] { Encoding.UTF8.GetBytes(sender), sender })
        {
            var raw = RawFrame(3, null, "hi"u8.ToArray(), Sender(value));
            using var document = JsonDocument.Parse(raw);

            Assert.Equal(sender, document.RootElement.GetProperty("from").GetString());
            Assert.Equal("hi", document.RootElement.GetProperty("data").GetString());
            Assert.Equal(["id", "type", "from", "data"], document.RootElement.EnumerateObject().Select(p => p.Name));
        }
    }

    [Fact]
    public void Frame_SenderAtTheLimit_IsShown_OneByteMore_IsOmitted()
    {
        // 128 two-byte characters: 256 bytes of UTF-8 (the limit), then 257.
        var atLimit = new string('é', 128);
        var over = atLimit + "x";

        Assert.Equal(atLimit, Frame(1, null, "x"u8.ToArray(), Sender(Encoding.UTF8.GetBytes(atLimit))).GetProperty("from").GetString());
        Assert.Equal(atLimit, Frame(1, null, "x"u8.ToArray(), Sender(atLimit)).GetProperty("from").GetString());
        Assert.False(Frame(1, null, "x"u8.ToArray(), Sender(Encoding.UTF8.GetBytes(over))).TryGetProperty("from", out _));
        Assert.False(Frame(1, null, "x"u8.ToArray(), Sender(over)).TryGetProperty("from", out _));
        Assert.False(Frame(1, null, "x"u8.ToArray(), Sender(Encoding.UTF8.GetBytes(new string('a', 100_000)))).TryGetProperty("from", out _));
    }

    [Theory]
    [MemberData(nameof(UnshownSenders))]
    public void Frame_SenderNotShortValidText_IsOmitted_TheMessageStillDelivered(object? value)
    {
        var frame = Frame(5, "0a1b", "still here"u8.ToArray(), Sender(value));

        Assert.False(frame.TryGetProperty("from", out _));
        Assert.Equal("still here", frame.GetProperty("data").GetString());
        Assert.Equal("0a1b-5", frame.GetProperty("id").GetString());
    }

    [Fact]
    public void Frame_SenderLookup_AllocatesNothing()
    {
        // What the broker delivers: the header as bytes. Framing with it, with other headers only, and without any
        // headers allocates the same (the frame's buffer is pooled), so the delivery path pays nothing for the lookup.
        var body = "{\"text\": \"hi\"}"u8.ToArray();
        var none = new BasicProperties();
        var others = new BasicProperties { Headers = new Dictionary<string, object?> { ["timestamp_in_ms"] = 1L } };
        var withSender = Sender(Encoding.UTF8.GetBytes("alice"));

        var allocated = new[] { none, others, withSender }.Select(properties =>
        {
            for (var i = 0; i < 100; i++)
            {
                JsonMessage.Frame(1, null, body, properties, MessageTimestamp.None).Release();
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                JsonMessage.Frame(1, null, body, properties, MessageTimestamp.None).Release();
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }).ToArray();

        Assert.Equal(allocated[0], allocated[1]);
        Assert.Equal(allocated[0], allocated[2]);
    }

    public static TheoryData<object?> UnshownSenders() => new()
    {
        null,
        Array.Empty<byte>(),
        string.Empty,
        new byte[] { 0x61, 0xc3, 0x28 }, // invalid UTF-8
        new byte[] { 0xff },
        "lone \ud800 surrogate",
        42L,
        true,
        new Dictionary<string, object?> { ["name"] = "alice" },
        new List<object?> { "alice" },
    };

    private static BasicProperties Sender(object? value) =>
        new() { Headers = new Dictionary<string, object?> { [MessageSender.HeaderName] = value, ["x-stream-offset"] = 3L } };

    private static byte[] RawFrame(ulong tag, string? prefix, byte[] body, IReadOnlyBasicProperties properties)
    {
        var item = JsonMessage.Frame(tag, prefix, body, properties, MessageTimestamp.None);
        try
        {
            return item.Frame.ToArray();
        }
        finally
        {
            item.Release();
        }
    }

    private static JsonElement Frame(ulong tag, string? prefix, byte[] body, IReadOnlyBasicProperties properties)
    {
        var item = JsonMessage.Frame(tag, prefix, body, properties, MessageTimestamp.None);
        try
        {
            Assert.Equal(tag, item.Tag);
            using var document = JsonDocument.Parse(item.Frame.ToArray());
            return document.RootElement.Clone();
        }
        finally
        {
            item.Release();
        }
    }
}
