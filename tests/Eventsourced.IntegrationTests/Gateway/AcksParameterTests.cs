using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>?acks=</c> on an event stream: a WebSocket's parameter, which a stream took silently, so that a page that asked to
/// acknowledge what it processed believed that a message it had not processed would come again. Refused (400) with what a
/// stream does instead, before anything is consumed; <c>acks=auto</c> (what it does) and a pattern's own <c>acks</c> go on.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class AcksParameterTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(AcksParameterTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Theory]
    [InlineData("acks=client")]
    [InlineData("acks=")]
    [InlineData("acks=auto&acks=auto")]
    public async Task Stream_AcksOtherThanAuto_Is400_SayingWhereClientsAcknowledge_AndConsumesNothing(string acks)
    {
        var queue = broker.UniqueQueueName(nameof(Stream_AcksOtherThanAuto_Is400_SayingWhereClientsAcknowledge_AndConsumesNothing));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(queue, "one");

        await using (var refused = await gateway.SubscribeAsync($"/?id={queue}&{acks}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
            Assert.Equal(
                "query parameter 'acks' is for WebSockets: an event stream's message is acknowledged once the client's TCP has it (an EventSource cannot acknowledge); "
                + "to acknowledge each message yourself, read it over a WebSocket (/ws?...&acks=client) or long-polls (/poll)",
                refused.Reason);
        }

        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        await using var stream = await gateway.SubscribeAsync($"/?id={queue}&acks=auto");
        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal(["one"], await stream.ReadEventsAsync(1, Timeout));
        await _amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task Topic_AcksClient_Is400_SayingThatItResumesById()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var topic = broker.UniqueQueueName(nameof(Topic_AcksClient_Is400_SayingThatItResumesById));

        await using var refused = await gateway.SubscribeAsync($"/topics/{topic}?acks=client");

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal(
            "query parameter 'acks' is for WebSockets' queues: a topic keeps every event, and its subscriber resumes after the last id it has (Last-Event-ID, ?lastEventId=ID)",
            refused.Reason);
        Assert.False(await _amqp.QueueExistsAsync("topic." + topic));
    }

    [Fact]
    public async Task Stream_APatternReadingAcks_TakesItAsTheApplicationsValue()
    {
        // The original's configuration may name any query parameter: a queue.pattern or queue.bind that reads acks keeps it.
        var id = broker.UniqueQueueName(nameof(Stream_APatternReadingAcks_TakesItAsTheApplicationsValue));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${query:id}.${query:Acks}");

        await using var stream = await gateway.SubscribeAsync($"/?id={id}&Acks=client");

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        await _amqp.UntilConsumersAsync($"{id}.client", 1, Timeout, "the stream consuming its queue");
        await _amqp.DeleteQueueAsync($"{id}.client");
    }

    [Theory]
    [InlineData("/poll", "ack=")]
    [InlineData("/poll", "ack=9f2c41a07b3e-2")]
    [InlineData("/", "ack=9f2c41a07b3e-2")]
    public async Task Stream_LongPollsAck_Is400_AndConsumesNothing_AlsoWithLongPollsSwitchedOff(string path, string ack)
    {
        // A long-poll client at the stream's URL, or polling on after poll.path was switched off (its /poll is then the
        // stream): its messages were acknowledged into an event stream that it never read as an answer.
        var queue = broker.UniqueQueueName(nameof(Stream_LongPollsAck_Is400_AndConsumesNothing_AlsoWithLongPollsSwitchedOff));
        var pollsOff = path == "/poll";
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.Path = pollsOff ? "" : "/poll");
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(queue, "one");

        await using (var refused = await gateway.SubscribeAsync($"{path}?id={queue}&{ack}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
            Assert.Equal(
                pollsOff
                    ? "query parameter 'ack' is for long-polls, which are not served here (poll.path): an event stream's message is acknowledged once the client's TCP has it, and a poll reading one would lose it"
                    : "query parameter 'ack' is for long-polls, at /poll?...&ack=ID: an event stream's message is acknowledged once the client's TCP has it, and a poll reading one would lose it",
                refused.Reason);
        }

        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        await _amqp.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task Stream_APatternReadingAck_TakesItAsTheApplicationsValue()
    {
        var id = broker.UniqueQueueName(nameof(Stream_APatternReadingAck_TakesItAsTheApplicationsValue));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${query:id}.${query:ack}");

        await using var stream = await gateway.SubscribeAsync($"/?id={id}&ack=x");

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        await _amqp.UntilConsumersAsync($"{id}.x", 1, Timeout, "the stream consuming its queue");
        await _amqp.DeleteQueueAsync($"{id}.x");
    }
}
