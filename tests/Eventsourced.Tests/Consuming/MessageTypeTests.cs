using System.Net.ServerSentEvents;
using System.Text.Json;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Eventsourced.WebSockets;
using RabbitMQ.Client;

namespace Eventsourced.Tests.Consuming;

/// <summary>
/// A message's AMQP <c>type</c> means the same on every transport: what an EventSource dispatches the event as (parsed as
/// a browser does, with <see cref="SseParser"/>: <c>message</c> for no type, <c>onmessage</c>) is what a WebSocket frame
/// and a long poll's array carry as <c>type</c> (<c>null</c> for none).
/// </summary>
public sealed class MessageTypeTests
{
    private static readonly SseFormat Sse = new(new SseFields(true, SseIdSource.None, 0));

    /// <summary>The event type an EventSource dispatches the message as, "message" being the page's onmessage.</summary>
    private static string EventSourceType(string? type)
    {
        var item = Sse.Message(1, "x"u8, new BasicProperties { Type = type }, MessageTimestamp.None);
        try
        {
            var parser = SseParser.Create(new MemoryStream([.. Sse.Opening, .. item.Frame.ToArray()]));
            return Assert.Single(parser.Enumerate()).EventType;
        }
        finally
        {
            item.Release();
        }
    }

    /// <summary>The <c>type</c> of the message's WebSocket and long-poll frame (they share the framing).</summary>
    private static string? FrameType(string? type)
    {
        var item = JsonMessage.Frame(1, null, "x"u8, new BasicProperties { Type = type }, MessageTimestamp.None);
        try
        {
            using var json = JsonDocument.Parse(item.Frame.ToArray());
            return json.RootElement.GetProperty("type").GetString();
        }
        finally
        {
            item.Release();
        }
    }

    [Theory]
    [InlineData(" ", null)] // was the event " " (no onmessage, no listener) on SSE and "type": " " in frames
    [InlineData("\r\n", null)] // was onmessage on SSE and "type": "\r\n" in frames
    [InlineData("\t \0", null)]
    [InlineData("\u00a0", null)]
    [InlineData(" price", "price")] // was the event " price", which addEventListener("price") does not see
    [InlineData("price \r\n", "price")]
    [InlineData("pr\rice", "price")]
    [InlineData("a b", "a b")]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void Type_IsTheSame_OnAnEventStream_AndInFrames(string? published, string? expected)
    {
        Assert.Equal(expected, FrameType(published));
        Assert.Equal(expected ?? "message", EventSourceType(published));
    }

    [Fact]
    public void RandomTypes_MeanTheSame_OnEveryTransport()
    {
        var alphabet = new[] { "a", " ", "\t", "\r", "\n", "\0", "é", "🎉", ":", "\u00a0", "event: x" };
        var random = new Random(20261207);
        for (var i = 0; i < 5_000; i++)
        {
            var type = string.Concat(Enumerable.Range(0, random.Next(0, 6)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            var framed = FrameType(type);
            Assert.True((framed ?? "message") == EventSourceType(type), $"type {JsonSerializer.Serialize(type)}: frames {JsonSerializer.Serialize(framed)}, EventSource {JsonSerializer.Serialize(EventSourceType(type))}");
        }
    }
}
