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
}
