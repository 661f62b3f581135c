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
