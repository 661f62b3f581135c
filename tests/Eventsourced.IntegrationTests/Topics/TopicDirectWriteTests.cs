using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Topics;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>
/// <c>topics.direct_writes</c>: the feed writes each event's chunk straight to its live SSE subscribers' sockets. Read
/// here off raw sockets, chunk framing and all, so that a byte out of place fails the test, and through HttpClient.
/// </summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class TopicDirectWriteTests(BrokerFixture broker) : TopicTestBase(broker)
{
    [Fact]
    public async Task LiveSubscribers_GetEveryEventInOrder_WrittenByTheFeed()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic(nameof(LiveSubscribers_GetEveryEventInOrder_WrittenByTheFeed));
        var subscribers = new List<SseClient>();
        for (var i = 0; i < 3; i++)
        {
            subscribers.Add(await gateway.SubscribeAsync($"/topics/{topic}"));
        }

        try
        {
            await PublishAsync(topic, 0, 1);
            foreach (var subscriber in subscribers)
            {
                await subscriber.ReadItemsAsync(1, Timeout);
            }

            // Their writers handed over the sockets with the first event: the rest the feed writes itself.
            await PublishAsync(topic, 1, 99);
            foreach (var subscriber in subscribers)
            {
                AssertRun(await subscriber.ReadItemsAsync(100, Timeout), 0, 100);
            }

            Assert.InRange(Feed(gateway, topic).WrittenDirectly, 3 * 90, 3 * 99);
            Assert.True(await MetricAsync(gateway, "eventsourced_messages_delivered_total") >= 300);
        }
        finally
        {
            foreach (var subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task DirectWritesOff_EveryEventGoesThroughTheSubscribersWriter()
    {
        var gateway = await StartGatewayAsync(o => o.Sse.DirectWrites = false);
        var topic = UniqueTopic(nameof(DirectWritesOff_EveryEventGoesThroughTheSubscribersWriter));
        await using var subscriber = await gateway.SubscribeAsync($"/topics/{topic}");

        await PublishAsync(topic, 0, 50);

        AssertRun(await subscriber.ReadItemsAsync(50, Timeout), 0, 50);
        Assert.Equal(0, Feed(gateway, topic).WrittenDirectly);
    }

    [Fact]
    public async Task AfterTheFeedTookOver_HeartbeatsStillCome_AndShutdownEndsTheResponseProperly()
    {
        var gateway = await StartGatewayAsync(o => o.Server.HeartbeatSeconds = 1);
        var topic = UniqueTopic(nameof(AfterTheFeedTookOver_HeartbeatsStillCome_AndShutdownEndsTheResponseProperly));
        using var connection = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/topics/{topic}");
        Assert.Equal(200, connection.Status);
        Assert.Equal("chunked", connection.Header("Transfer-Encoding"));

        // The first event goes through the writer, which hands over the socket; once the client has it, the feed
        // writes the next one itself. The writer takes over only when the kernel has every byte Kestrel wrote, and
        // tries again at its next wake-up if not (a loaded machine): so the feed writes within the first few events.
        var published = 0;
        while (Feed(gateway, topic).WrittenDirectly == 0 && published < 5)
        {
            await PublishAsync(topic, published, 1);
            var expected = $"data: event-{published}\n\n";
            await connection.ReadUntilAsync(body => body.Contains(expected, StringComparison.Ordinal), Timeout);
            published++;
        }

        // The feed counts an event once it has written it, which may be after the client read it: the loop may have
        // published one more before it saw the count, which the feed wrote as well.
        Assert.InRange(Feed(gateway, topic).WrittenDirectly, 1, 2);
        Assert.True(published >= 2, "the first event came from the writer");

        // Silent for longer than the heartbeat: comments, each its own chunk.
        var before = connection.Body.Length;
        await connection.ReadUntilAsync(body => body.Length > before && body[before..].Contains(": heartbeat\n\n", StringComparison.Ordinal), Timeout);

        await PublishAsync(topic, published, 1);
        var last = $"data: event-{published}\n\n";
        await connection.ReadUntilAsync(body => body.Contains(last, StringComparison.Ordinal), Timeout);

        var stopping = gateway.StopAsync();
        await connection.ReadToEndAsync(Timeout);
        await stopping.WaitAsync(Timeout);

        // The last chunk (size 0) came after the stream's last words: nothing written directly was cut or mixed in.
        Assert.True(connection.EndedWithLastChunk);
        Assert.Contains(": stream ended", connection.Body, StringComparison.Ordinal);
        var events = connection.Body.Split("\n\n").Where(e => e.Contains("data: ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Enumerable.Range(0, published + 1).Select(i => $"event-{i}"), events.Select(e => e[(e.IndexOf("data: ", StringComparison.Ordinal) + 6)..]));
    }

    [Fact]
    public async Task StreamEndedByTheBroker_TheSameConnectionThenServesTheNextRequest()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic(nameof(StreamEndedByTheBroker_TheSameConnectionThenServesTheNextRequest));
        using var connection = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/topics/{topic}", keepAlive: true);
        Assert.Equal(200, connection.Status);
        await PublishAsync(topic, 0, 1);
        await connection.ReadUntilAsync(body => body.Contains("data: event-0\n\n", StringComparison.Ordinal), Timeout);
        await PublishAsync(topic, 1, 19);
        await connection.ReadUntilAsync(body => body.Contains("data: event-19\n\n", StringComparison.Ordinal), Timeout);
        Assert.True(Feed(gateway, topic).WrittenDirectly >= 1);

        // Deleting the stream ends its consumer and so every subscriber, with a reason; the response ends properly.
        await Amqp.DeleteQueueAsync(StreamOf(topic));
        await connection.ReadToEndAsync(Timeout);
        Assert.True(connection.EndedWithLastChunk);
        Assert.Contains(": stream ended", connection.Body, StringComparison.Ordinal);

        // The connection is Kestrel's again, its socket as it was: the next request on it is answered.
        var next = await connection.SendAsync("/healthz", Timeout);
        Assert.Equal(200, next.Status);
    }

    private static TopicFeed Feed(GatewayServer gateway, string topic) =>
        gateway.Services.GetRequiredService<TopicHub>().FeedOf(topic) ?? throw new InvalidOperationException($"no feed of {topic}");
}
