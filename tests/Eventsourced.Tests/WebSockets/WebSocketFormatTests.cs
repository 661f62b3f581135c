using System.Text.Json;
using Eventsourced.Metrics;
using Eventsourced.WebSockets;
using RabbitMQ.Client;

namespace Eventsourced.Tests.WebSockets;

public sealed class WebSocketFormatTests
{
    [Fact]
    public void QueueConnections_CountIdsFromTheirOwnRandomStart_ThatJavaScriptHoldsExactly()
    {
        var offsets = Enumerable.Range(0, 100).Select(_ => WebSocketFormat.ForQueueConnection().IdOffset).ToList();

        Assert.Equal(offsets.Count, offsets.Distinct().Count());
        Assert.All(offsets, o => Assert.InRange(o, 1UL, (1UL << 52) - 1));
    }

    [Fact]
    public void AMessagesId_IsItsTagPlusTheOffset_AndTagOfTakesItBack()
    {
        var format = new WebSocketFormat(idOffset: 1_000_000);

        var item = format.Message(7, "hi"u8, new BasicProperties(), default);
        try
        {
            using var json = JsonDocument.Parse(item.Buffer.AsMemory(0, item.Length));
            Assert.Equal(1_000_007UL, json.RootElement.GetProperty("id").GetUInt64());
        }
        finally
        {
            item.Release();
        }

        Assert.Equal(7UL, format.TagOf(1_000_007));
        Assert.Null(format.TagOf(1_000_000));
        Assert.Null(format.TagOf(7));
    }

    [Fact]
    public void ATopicsId_IsTheEventsOffset_NotShifted() =>
        Assert.Equal(0UL, new WebSocketFormat(topicOffsets: true).IdOffset);
}
