using System.Net;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerCollection.Name)]
public sealed class FramingTests(BrokerFixture broker) : GatewayTestBase(broker)
{
    [Fact]
    public async Task Stream_OpensWithCommentAndConfiguredHeaders()
    {
        var queue = Broker.UniqueQueueName(nameof(Stream_OpensWithCommentAndConfiguredHeaders));
        await using var sse = await Gateway.SubscribeAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.OK, sse.Status);
        Assert.True(await sse.ReadUntilAsync(t => t.Length >= ": SSE stream\n\n".Length, TimeSpan.FromSeconds(10)));
        Assert.Equal(": SSE stream\n\n", sse.RawText);
        Assert.Equal("text/event-stream; charset=utf-8", sse.Response.Content.Headers.ContentType!.ToString());
        Assert.Equal("no-cache", sse.Response.Headers.CacheControl!.ToString());
        Assert.Equal("no", sse.Response.Headers.GetValues("X-Accel-Buffering").Single());
        Assert.Equal("*", sse.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("GET, OPTIONS", sse.Response.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal("Content-Type, Accept, Cache-Control, Authorization, Last-Event-ID", sse.Response.Headers.GetValues("Access-Control-Allow-Headers").Single());
        // The original's "Transfer-Encoding: identity" is Kestrel's business: the response still streams.
        Assert.True(sse.Response.Headers.TransferEncodingChunked);
    }

    public static TheoryData<string, string> AwkwardBodies => new()
    {
        { "hello", "data: hello\n\n" },
        { "", "data: \n\n" },
        { "   \n\n  ", "data: \n\n" },
        { "  leading and trailing  ", "data: leading and trailing\n\n" },
        { "line1\nline2\nline3", "data: line1\ndata: line2\ndata: line3\n\n" },
        { "crlf1\r\ncrlf2\r\n", "data: crlf1\ndata: crlf2\n\n" },
        { "lone\rcr", "data: lonecr\n\n" },
        { "data: inner\ndata: lines", "data: data: inner\ndata: data: lines\n\n" },
        { "a\n\nb", "data: a\ndata: \ndata: b\n\n" },
        { "x\n  indented", "data: x\ndata:   indented\n\n" },
        { "event: fake\nid: 7\nretry: 1", "data: event: fake\ndata: id: 7\ndata: retry: 1\n\n" },
        { "Grüße, 世界 🎉", "data: Grüße, 世界 🎉\n\n" },
        { "\ttab\t", "data: \ttab\t\n\n" },
    };

    [Theory]
    [MemberData(nameof(AwkwardBodies))]
    public async Task Message_IsFramedExactlyAsTheOriginal(string body, string expectedFrame)
    {
        var queue = Broker.UniqueQueueName("framing");
        await using var sse = await Gateway.SubscribeAsync($"/?id={Uri.EscapeDataString(queue)}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        await Amqp.PublishAsync(queue, Encoding.UTF8.GetBytes(body));
        await Amqp.PublishAsync(queue, "end");

        Assert.True(await sse.ReadUntilAsync(t => t.EndsWith("data: end\n\n", StringComparison.Ordinal), TimeSpan.FromSeconds(10)));
        Assert.Equal(": SSE stream\n\n" + expectedFrame + "data: end\n\n", sse.RawText);
    }

    [Fact]
    public async Task Messages_PublishedBeforeSubscribing_ArriveInOrder()
    {
        var queue = Broker.UniqueQueueName(nameof(Messages_PublishedBeforeSubscribing_ArriveInOrder));
        await Amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true); // as the gateway declares it
        for (var i = 0; i < 500; i++)
        {
            await Amqp.PublishAsync(queue, $"message {i}");
        }

        await using var sse = await Gateway.SubscribeAsync($"/?id={queue}");
        var events = await sse.ReadEventsAsync(500, TimeSpan.FromSeconds(20));

        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"message {i}"), events);
    }

    [Fact]
    public async Task Multiline_Utf8_Event_ParsesBackToTheTrimmedBody()
    {
        var queue = Broker.UniqueQueueName(nameof(Multiline_Utf8_Event_ParsesBackToTheTrimmedBody));
        await using var sse = await Gateway.SubscribeAsync($"/?id={queue}");
        await Amqp.PublishAsync(queue, "  {\"msg\":\r\n \"Grüße 🎉\"}\n");

        var events = await sse.ReadEventsAsync(1, TimeSpan.FromSeconds(10));

        Assert.Equal("{\"msg\":\n \"Grüße 🎉\"}", Assert.Single(events));
    }
}
