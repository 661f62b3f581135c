using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>What a topic request is refused for, each with its status and a reason in <c>X-Status-Reason</c> and the body.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class TopicRefusalTests(BrokerFixture broker) : TopicTestBase(broker)
{
    [Fact]
    public async Task TopicNotAllowedToBeCreated_Is404_AnAllowedOneIsCreated_AnExistingOneIsRead()
    {
        var gateway = await StartGatewayAsync(o => o.Topics.Create = ["news.*"]);
        var other = UniqueTopic("other");
        var news = "news." + UniqueTopic("x");
        var existing = UniqueTopic("existing");
        await DeclareStreamAsync(existing);

        await using var refused = await gateway.SubscribeAsync($"/topics/{other}");
        await using var created = await gateway.SubscribeAsync($"/topics/{news}");
        await using var read = await gateway.SubscribeAsync($"/topics/{existing}");

        Assert.Equal(HttpStatusCode.NotFound, refused.Status);
        Assert.Equal($"topic '{other}' does not exist (and topics.create does not allow creating it)", Reason(refused));
        Assert.Equal(Reason(refused) + "\n", await refused.ReadBodyAsync());
        Assert.False(await Amqp.QueueExistsAsync(StreamOf(other)));
        Assert.Equal(HttpStatusCode.OK, created.Status);
        Assert.True(await Amqp.QueueExistsAsync(StreamOf(news)));
        Assert.Equal(HttpStatusCode.OK, read.Status);
    }

    [Fact]
    public async Task CreateMaxReached_NewTopicIs403_ExistingTopicsStillWork()
    {
        var gateway = await StartGatewayAsync(o => o.Topics.CreateMax = 1);
        var first = UniqueTopic("first");
        var second = UniqueTopic("second");
        var existing = UniqueTopic("existing");
        await DeclareStreamAsync(existing);

        await using var created = await gateway.SubscribeAsync($"/topics/{first}");
        await using var refused = await gateway.SubscribeAsync($"/topics/{second}");
        await using var read = await gateway.SubscribeAsync($"/topics/{existing}");

        Assert.Equal(HttpStatusCode.OK, created.Status);
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Contains("topics.create_max", Reason(refused), StringComparison.Ordinal);
        Assert.False(await Amqp.QueueExistsAsync(StreamOf(second)));
        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal(1, await MetricAsync(gateway, "eventsourced_topics_created_total"));
    }

    [Fact]
    public async Task NameOfAClassicQueue_Is409_AndTheQueueIsUntouched()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic("classic");
        var queue = StreamOf(topic);
        await Amqp.DeclareQueueAsync(queue, durable: true);
        await Amqp.PublishAsync(queue, "private");

        await using var refused = await gateway.SubscribeAsync($"/topics/{topic}");

        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Equal($"'{queue}' is a queue, not a stream: it cannot be read as topic '{topic}'", Reason(refused));
        Assert.Equal(1u, await Amqp.MessageCountAsync(queue));
        await Wait.UntilAsync(() => Leases(gateway) == 0, Timeout, "the refused topic's channel released");
    }

    [Theory]
    [InlineData("/topics/", "empty topic name")]
    [InlineData("/topics/a%01b", "topic name contains control characters")]
    [InlineData("/topics/a%C2%85b", "topic name contains control characters")]
    [InlineData("/topics/news%20", "topic name starts or ends with a space")] // another topic than 'news', that looks the same
    [InlineData("/topics/%20news", "topic name starts or ends with a space")]
    [InlineData("/topics/news%09", "topic name contains control characters")]
    [InlineData("/topics/a%FFb", "topic name is not valid percent-encoded UTF-8")] // would read as /topics/a%25FFb
    [InlineData("/topics/%ED%A0%80", "topic name is not valid percent-encoded UTF-8")] // an encoded surrogate
    [InlineData("/topics/a%252Fb", "topic name must not contain the text '%2F' (it would read as '/')")] // read as /topics/a%2Fb
    [InlineData("/topics/a%25%32%46b", "topic name must not contain the text '%2F' (it would read as '/')")]
    [InlineData("/topics/a%2Fb%252f", "topic name must not contain the text '%2F' (it would read as '/')")]
    [InlineData("/topics/news/", "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'")]
    [InlineData("/topics/news%2F", "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'")]
    [InlineData("/topics//news", "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'")]
    [InlineData("/topics/a//b", "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'")]
    [InlineData("/topics/a%2F%2Fb", "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'")]
    [InlineData("/topics/a%2F..%2Fb", "topic name has a '.' or '..' segment: 'a/../b' would be another topic than 'b'")] // the server removes /../ only when unencoded
    [InlineData("/topics/a%2F.%2Fb", "topic name has a '.' or '..' segment: 'a/../b' would be another topic than 'b'")]
    [InlineData("/topics/..%2Fb", "topic name has a '.' or '..' segment: 'a/../b' would be another topic than 'b'")]
    [InlineData("/topics/ok?lastEventId=abc", "lastEventId must be the id of one of the topic's events (a number) or earliest, got 'abc'")]
    [InlineData("/topics/ok?lastEventId=-1", "lastEventId must be the id of one of the topic's events (a number) or earliest, got '-1'")]
    public async Task BadRequest_Is400WithTheReason(string target, string reason)
    {
        var gateway = await StartGatewayAsync();

        await using var refused = await gateway.SubscribeAsync(target);

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal(reason, Reason(refused));
    }

    [Theory]
    [InlineData("amq.x")]
    [InlineData("AMQ.x")]
    public async Task ReservedName_WithoutAPrefix_Is400_WithThePrefix_IsATopic(string topic)
    {
        var unprefixed = await StartGatewayAsync(o => o.Topics.Prefix = "");
        var prefixed = await StartGatewayAsync();

        await using var refused = await unprefixed.SubscribeAsync($"/topics/{topic}");
        await using var topicOfItsOwn = await prefixed.SubscribeAsync($"/topics/{topic}");

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("topic name must not start with 'amq.'", Reason(refused));
        Assert.Equal(HttpStatusCode.OK, topicOfItsOwn.Status);
        Assert.True(await Amqp.QueueExistsAsync(StreamOf(topic)));
        await Amqp.DeleteQueueAsync(StreamOf(topic));
    }

    [Fact]
    public async Task ReservedStreamName_MadeByThePrefixAndTheName_Is400_AndTakesNoLockOfAnotherTopic()
    {
        // With topics.prefix 'eventsourced.', the topic 'lock.<hash>' would be a durable stream named as the gateway's lock of
        // another topic's creation (or of a queue's subscriber): that topic could then never be created (503 after 5 s).
        var gateway = await StartGatewayAsync(o => o.Topics.Prefix = "eventsourced.");
        var victim = UniqueTopic("victim");
        var lockStream = Eventsourced.Topics.StreamCreationLock.NameFor("eventsourced." + victim);
        var squatter = lockStream["eventsourced.".Length..];
        var amq = await StartGatewayAsync(o => o.Topics.Prefix = "am");

        await using var refused = await gateway.SubscribeAsync($"/topics/{squatter}");
        await using var reserved = await amq.SubscribeAsync("/topics/q.x");
        await using var created = await gateway.SubscribeAsync($"/topics/{victim}");

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("topic's stream name must not start with 'eventsourced.lock.' (the gateway's lock queues)", Reason(refused));
        Assert.False(await Amqp.QueueExistsAsync(lockStream));
        Assert.Equal(HttpStatusCode.BadRequest, reserved.Status);
        Assert.Equal("topic's stream name must not start with 'amq.'", Reason(reserved));
        Assert.Equal(HttpStatusCode.OK, created.Status);
        await Amqp.DeleteQueueAsync("eventsourced." + victim);
    }

    [Fact]
    public async Task BadLastEventId_IsQuotedWithoutControlCharacters()
    {
        var gateway = await StartGatewayAsync();

        // A terminal escape sequence and a line break in the id: the refusal quotes it, but neither reaches the body.
        await using var refused = await gateway.SubscribeAsync("/topics/ok?lastEventId=1%0D%0Adata:%20x%1B%5B2J");
        var body = await refused.ReadBodyAsync();

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        const string Reason = "lastEventId must be the id of one of the topic's events (a number) or earliest, got '1??data: x?[2J'";
        Assert.Equal(Reason, TopicRefusalTests.Reason(refused));
        Assert.Equal(Reason + "\n", body);
    }

    [Fact]
    public async Task TooLongName_Is400_CountingThePrefix()
    {
        var gateway = await StartGatewayAsync();

        // A stream's data directory is named "VHOST_NAME_TIMESTAMP" and may have 255 bytes: with the vhost "/",
        // 233 for the stream's name, of which the prefix takes 6.
        await using var fits = await gateway.SubscribeAsync("/topics/" + UniqueTopic("x").PadRight(227, 'x'));
        await using var tooLong = await gateway.SubscribeAsync("/topics/" + new string('x', 228));

        Assert.True(fits.Status == HttpStatusCode.OK, fits.Response.Headers.TryGetValues("X-Status-Reason", out var r) ? string.Join(",", r) : "");
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.Status);
        Assert.Equal("topic name longer than 227 bytes", Reason(tooLong));
    }

    [Fact]
    public async Task ATopicNamedLikeAClientsQueue_IsNotCreated_TheClientKeepsItsQueue()
    {
        var prefix = UniqueTopic("squat") + ".";
        var gateway = await StartGatewayAsync(o =>
        {
            o.Queue.Pattern = prefix + "${query:id}";
            o.Topics.Prefix = "";
        });

        // Created, the stream would hold the victim's queue name for good (the victim refused ever after) and keep what
        // services publish to that queue for the topic's readers.
        await using (var squatter = await gateway.SubscribeAsync($"/topics/{prefix}victim"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, squatter.Status);
            Assert.Equal($"topic '{prefix}victim' is not created: its stream would be named like a client's queue (queue.pattern); topics.prefix keeps the names apart", Reason(squatter));
        }

        Assert.False(await Amqp.QueueExistsAsync(prefix + "victim"));
        await using var victim = await gateway.SubscribeAsync("/?id=victim");
        Assert.Equal(HttpStatusCode.OK, victim.Status);

        // Other names are topics as ever; with topics.prefix (the default) the same name is a topic of its own.
        await using var other = await gateway.SubscribeAsync($"/topics/{UniqueTopic("news")}");
        Assert.Equal(HttpStatusCode.OK, other.Status);
        var prefixed = await StartGatewayAsync(o => o.Queue.Pattern = prefix + "${query:id}");
        await using var apart = await prefixed.SubscribeAsync($"/topics/{prefix}victim");
        Assert.Equal(HttpStatusCode.OK, apart.Status);
        Assert.True(await Amqp.QueueExistsAsync(StreamOf(prefix + "victim")));
        await Amqp.DeleteQueueAsync(StreamOf(prefix + "victim"));
    }

    [Fact]
    public async Task AQueueNamedLikeATopicsStream_Is400_TheTopicStaysReadable()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic("taken");
        var stream = StreamOf(topic);

        // A classic queue of the stream's name would refuse the topic to every subscriber (409) while it exists, and take
        // what services publish to the topic before its stream exists: the prefix keeps queues off topics' names too.
        await using (var squatter = await gateway.SubscribeAsync($"/?id={stream}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, squatter.Status);
            Assert.Equal("queue name must not start with 'topic.' (topics.prefix: the names of topics' streams)", Reason(squatter));
        }

        await using (var poller = await gateway.SubscribeAsync($"/poll?id={stream}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, poller.Status);
        }

        Assert.False(await Amqp.QueueExistsAsync(stream));
        await using var reader = await gateway.SubscribeAsync($"/topics/{topic}");
        Assert.Equal(HttpStatusCode.OK, reader.Status);
        await Amqp.DeleteQueueAsync(stream);

        // Names merely like the prefix (another case, no dot) and, with topics off, any name are queues as ever.
        await using var otherCase = await gateway.SubscribeAsync($"/?id=Topic.{topic}");
        Assert.Equal(HttpStatusCode.OK, otherCase.Status);
        var noTopics = await StartGatewayAsync(o => o.Topics.Path = "");
        await using var queue = await noTopics.SubscribeAsync($"/?id={stream}");
        Assert.Equal(HttpStatusCode.OK, queue.Status);
        await queue.DisposeAsync();
        await otherCase.DisposeAsync();
        await Amqp.DeleteQueueAsync(stream);
        await Amqp.DeleteQueueAsync($"Topic.{topic}");
    }

    [Fact]
    public async Task EncodedSlash_IsPartOfTheName_OneSpellingPerTopic()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic("slash");

        await using var read = await gateway.SubscribeAsync($"/topics/{topic}%2Fsub");
        await using var other = await gateway.SubscribeAsync($"/topics/{topic}%252Fsub");

        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.True(await Amqp.QueueExistsAsync(StreamOf(topic + "/sub")));
        Assert.Equal(HttpStatusCode.BadRequest, other.Status);
        await Amqp.DeleteQueueAsync(StreamOf(topic + "/sub"));
    }

    [Fact]
    public async Task BadLastEventIdHeader_Is400()
    {
        var gateway = await StartGatewayAsync();

        await using var refused = await gateway.SubscribeAsync($"/topics/{UniqueTopic("x")}", r => r.Headers.Add("Last-Event-ID", "7x"));

        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("Last-Event-ID must be the id of one of the topic's events (a number) or earliest, got '7x'", Reason(refused));
    }

    [Fact]
    public async Task TopicsSwitchedOff_ThePathIsJustAnotherPathOfTheQueueStream()
    {
        var gateway = await StartGatewayAsync(o => o.Topics.Path = "");

        await using var answer = await gateway.SubscribeAsync($"/topics/{UniqueTopic("x")}");

        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("missing query parameter 'id'", Reason(answer));
    }

    [Fact]
    public async Task NoBroker_Is503()
    {
        await using var gateway = await GatewayServer.StartAsync("amqp://guest:guest@127.0.0.1:1/");

        await using var refused = await gateway.SubscribeAsync($"/topics/{UniqueTopic("x")}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.Equal("no broker connection is up", Reason(refused));
    }

    [Fact]
    public async Task BrokerLeavesTheStreamsDeclareUnanswered_Is503NotA500()
    {
        // A stalled node (frozen, or a cluster member the stream needs) answers nothing: RabbitMQ.Client gives up after
        // its continuation timeout (20 s) with a TaskCanceledException, which no one asked for.
        var (proxy, amqpUrl) = StallingProxy.ForBroker(Broker.AmqpUrl, StallingProxy.QueueDeclare);
        await using var _ = proxy;
        await using var gateway = await GatewayServer.StartAsync(amqpUrl, o => o.Broker.HeartbeatSeconds = 600);
        var topic = UniqueTopic("unanswered");

        await using var refused = await gateway.SubscribeAsync($"/topics/{topic}");

        Assert.True(proxy.Stalled.IsCompleted);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.Equal($"broker refused topic '{topic}'", Reason(refused));
        Assert.Equal(1, await MetricAsync(gateway, "eventsourced_streams_total{outcome=\"broker_error\"}"));
        await proxy.DisposeAsync();
    }

    [Fact]
    public async Task BrokerLeavesTheCatchUpsConsumeUnanswered_Is503NotA500()
    {
        var topic = UniqueTopic("catchup-unanswered");
        await DeclareStreamAsync(topic);
        await PublishAsync(topic, 0, 3);
        // The first two basic.consume are the topic's feed (finding the stream's end, then from new events); the third,
        // the resuming subscriber's catch-up.
        var (proxy, amqpUrl) = StallingProxy.ForBroker(Broker.AmqpUrl, StallingProxy.BasicConsume, count: 3);
        await using var _ = proxy;
        await using var gateway = await GatewayServer.StartAsync(amqpUrl, o => o.Broker.HeartbeatSeconds = 600);

        await using var refused = await gateway.SubscribeAsync($"/topics/{topic}?lastEventId=earliest");

        Assert.True(proxy.Stalled.IsCompleted);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.Equal($"broker refused reading topic '{topic}' from offset 0", Reason(refused));
        await proxy.DisposeAsync();
    }

    [Fact]
    public async Task BrokerConnectionLost_TopicSubscribersAreToldSo()
    {
        // As a queue's stream: ": stream ended: broker connection lost" (it said "broker closed the subscription").
        var (proxy, amqpUrl) = StallingProxy.ForBroker(Broker.AmqpUrl, StallingProxy.QueueDeclare, count: int.MaxValue);
        await using var _ = proxy;
        await using var gateway = await GatewayServer.StartAsync(amqpUrl);
        var topic = UniqueTopic("connection-lost");
        await using var sse = await gateway.SubscribeAsync($"/topics/{topic}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        await proxy.DisposeAsync(); // every connection through it cut

        Assert.EndsWith(": stream ended: broker connection lost\n\n", await sse.ReadBodyAsync(), StringComparison.Ordinal);
    }

    private static string Reason(SseClient client) => client.Response.Headers.GetValues("X-Status-Reason").Single();
}
