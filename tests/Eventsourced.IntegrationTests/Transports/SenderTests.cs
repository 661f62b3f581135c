using System.Net;
using System.Text;
using System.Text.Json;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Eventsourced.Topics;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>
/// The verified sender: a token-authenticated WebSocket client's publishes carry its token's <c>sub</c> as the AMQP
/// header <c>sender</c>, and WebSocket and long-poll subscribers see it as <c>"from"</c>, on queues and on topics
/// (live, and resumed from the stream); without tokens, no header.
/// </summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class SenderTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(SenderTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Queue_TokenPublisher_IsTheFromOfWebSocketAndPollSubscribers_NotWhatItsBodySays()
    {
        var exchange = broker.UniqueQueueName("sender-exchange");
        var bobQueue = broker.UniqueQueueName("sender-bob");
        var carolQueue = broker.UniqueQueueName("sender-carol");
        var aliceQueue = broker.UniqueQueueName("sender-alice");
        var sink = broker.UniqueQueueName("sender-sink");
        await _amqp.DeclareExchangeAsync(exchange, ExchangeType.Topic, durable: false);
        await _amqp.DeclareQueueAsync(sink, expiresSeconds: 600, durable: true);
        await _amqp.BindQueueAsync(sink, exchange, "chat.#");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRoutingKey = "chat.${to}";
            o.Poll.WaitSeconds = 1;
        });

        // bob reads his queue over a WebSocket, carol hers by long-polling; both queues are bound to the room.
        await using var bob = await gateway.ConnectWebSocketAsync($"/ws?id={bobQueue}&access_token={TestTokens.Hs256(TestTokens.Claims("bob", bobQueue))}");
        Assert.True(bob.Connected, $"{bob.Status} {bob.Reason}");
        var carolToken = TestTokens.Hs256(TestTokens.Claims("carol", carolQueue));
        Assert.Empty(await PollAsync(gateway, carolQueue, carolToken));
        await _amqp.BindQueueAsync(bobQueue, exchange, "chat.lobby");
        await _amqp.BindQueueAsync(carolQueue, exchange, "chat.lobby");

        var aliceClaims = TestTokens.Claims("alice", aliceQueue);
        aliceClaims["publish"] = new[] { "lobby" };
        await using var alice = await gateway.ConnectWebSocketAsync($"/ws?id={aliceQueue}&access_token={TestTokens.Hs256(aliceClaims)}");
        await alice.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": {\"from\": \"bob\", \"text\": \"I am bob\"}, \"type\": \"chat\"}}");
        Assert.Equal("{\"published\":1}", (await alice.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());

        // Services publish with AMQP clients of their own: with a sender header of theirs, and without one.
        await _amqp.PublishAsync(bobQueue, "from billing", properties: WithSender("billing"));
        await _amqp.PublishAsync(carolQueue, "from billing", properties: WithSender("billing"));
        await _amqp.PublishAsync(bobQueue, "anonymous");
        await _amqp.PublishAsync(carolQueue, "anonymous");

        var toBob = await bob.ReceiveMessagesAsync(3, Timeout);
        Assert.Equal(["{\"from\": \"bob\", \"text\": \"I am bob\"}", "from billing", "anonymous"], toBob.Select(m => m.Data));
        Assert.Equal(["alice", "billing", null], toBob.Select(m => m.From));
        Assert.False(bob.Frames.Single(f => f.TryGetProperty("data", out var d) && d.GetString() == "anonymous").TryGetProperty("from", out _));

        var toCarol = await PollUntilAsync(gateway, carolQueue, carolToken, 3);
        Assert.Equal(["{\"from\": \"bob\", \"text\": \"I am bob\"}", "from billing", "anonymous"], toCarol.Select(m => m.GetProperty("data").GetString()));
        Assert.Equal(["alice", "billing", null], toCarol.Select(m => m.TryGetProperty("from", out var from) ? from.GetString() : null));

        // On the broker: the header, from the token, beside the gateway's other properties.
        var published = Assert.Single(await _amqp.ReceiveAsync(sink, 1, Timeout));
        Assert.Equal("alice", Encoding.UTF8.GetString((byte[])published.Properties.Headers!["sender"]!));
        Assert.Equal("eventsourced", published.Properties.AppId);

        await _amqp.DeleteQueueAsync(sink);
        await _amqp.DeleteExchangeAsync(exchange);
    }

    [Fact]
    public async Task MessageSentAgainWithTheReadmesMessageId_ReachesTheReaderWithTheSameMessageId_AnotherUsersDoesNot()
    {
        // README "Publishing": a publish whose answer never came (the connection dropped) is sent again with the same
        // "message_id", and readers drop the copy by the frame's message_id. The gateway gave every publish a random
        // message_id, so the copy had another one and readers showed the message twice.
        var readme = File.ReadAllText(RepositoryFile("README.md"));
        var start = readme.IndexOf("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"type\": \"chat\", \"message_id\"", StringComparison.Ordinal);
        Assert.True(start >= 0, "README shows a publish with a message_id");
        var publish = readme[start..readme.IndexOf('\n', start)];
        var room = broker.UniqueQueueName("resend-room");
        var reader = broker.UniqueQueueName("resend-reader");
        await _amqp.DeclareExchangeAsync(room, ExchangeType.Topic, durable: false);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = room;
            o.Ws.PublishRoutingKey = "${to}";
        });
        await using var subscriber = await gateway.ConnectWebSocketAsync($"/ws?id={reader}&access_token={TestTokens.Hs256(TestTokens.Claims("bob", reader))}");
        Assert.True(subscriber.Connected, $"{subscriber.Status} {subscriber.Reason}");
        await _amqp.BindQueueAsync(reader, room, "lobby");

        async Task<string> PublishAsync(string sub, string message)
        {
            var own = broker.UniqueQueueName($"resend-{sub}");
            var claims = new Dictionary<string, object> { ["sub"] = sub, ["queues"] = new[] { own }, ["publish"] = new[] { "lobby" } };
            await using var client = await gateway.ConnectWebSocketAsync($"/ws?id={own}&access_token={TestTokens.Hs256(claims)}");
            Assert.True(client.Connected, $"{client.Status} {client.Reason}");
            await client.SendAsync(message);
            return (await client.ReceiveAnswersAsync(1, Timeout))[0].GetRawText();
        }

        // alice sends it, and again on another connection; mallory gives the same message_id; alice a message without one.
        Assert.Equal("{\"published\":\"m1\"}", await PublishAsync("alice", publish));
        Assert.Equal("{\"published\":\"m1\"}", await PublishAsync("alice", publish));
        Assert.Equal("{\"published\":\"m1\"}", await PublishAsync("mallory", publish));
        Assert.Equal("{\"published\":1}", await PublishAsync("alice", "{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\"}}"));
        var received = await subscriber.ReceiveMessagesAsync(4, Timeout);
        Assert.Equal(["alice", "alice", "mallory", "alice"], received.Select(m => m.From));
        Assert.All(received, m => Assert.Matches("^[0-9a-f]{32}$", m.MessageId));
        Assert.Equal(received[0].MessageId, received[1].MessageId);
        Assert.NotEqual(received[0].MessageId, received[2].MessageId);
        Assert.NotEqual(received[0].MessageId, received[3].MessageId);

        // A message_id of a wrong kind publishes nothing.
        Assert.Equal(
            "{\"error\":\"\\\"message_id\\\" must be a string of 1 to 64 characters\",\"ref\":1}",
            await PublishAsync("alice", "{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"message_id\": 7}}"));
        Assert.Equal(
            "{\"error\":\"\\\"message_id\\\" must be a string of 1 to 64 characters\",\"ref\":1}",
            await PublishAsync("alice", "{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"message_id\": \"" + new string('x', 65) + "\"}}"));

        Assert.Equal(0u, await _amqp.MessageCountAsync(reader));
        await _amqp.DeleteExchangeAsync(room);
    }

    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, name)) && File.Exists(Path.Combine(dir.FullName, "eventsourced.sln")))
            {
                return Path.Combine(dir.FullName, name);
            }
        }

        throw new FileNotFoundException($"{name} not found above {AppContext.BaseDirectory}");
    }

    [Fact]
    public async Task TokenWithASubLongerThanAFromCanBe_IsRefusedPublishing_ASubOfThatLengthPublishes()
    {
        // Subscribers see a sender of at most 256 bytes as "from": a longer sub's publish reached them without one, as a
        // service's message does, so that a page trusting messages without "from" (the chat's presence events) took it
        // for the gateway's own.
        const string Refused = "{\"error\":\"token's sub is longer than 256 bytes: subscribers could not be shown who sent the message\",\"ref\":1}";
        await AssertPublishesAnsweredAsync("sender-long", new string('y', 256),
            (new string('x', 257), Refused),
            (string.Concat(Enumerable.Repeat("\u00e9", 129)), Refused),
            (new string('y', 256), "{\"published\":1}"));
    }

    [Fact]
    public async Task TokenWithoutASubOrAnEmptyOne_IsRefusedPublishing_AndNothingReachesTheExchange()
    {
        // Without a sub the publish carried no sender, so subscribers got it without "from", exactly as a service's
        // message: a page trusting messages without "from" (the chat's presence events) took it for the gateway's own.
        const string Refused = "{\"error\":\"token has no sub: subscribers could not be shown who sent the message\",\"ref\":1}";
        await AssertPublishesAnsweredAsync("sender-nosub", "dave", (null, Refused), (string.Empty, Refused), ("dave", "{\"published\":1}"));
    }

    /// <summary>
    /// A gateway publishing WebSocket clients' messages to an exchange of its own: a client with a token of each
    /// <c>sub</c> (none for null) publishes one message, whose answer must be the one given; the exchange then holds
    /// exactly one message, from <paramref name="publishedBy"/>.
    /// </summary>
    private async Task AssertPublishesAnsweredAsync(string name, string publishedBy, params (string? Sub, string Answer)[] publishers)
    {
        var exchange = broker.UniqueQueueName($"{name}-exchange");
        var sink = broker.UniqueQueueName($"{name}-sink");
        var queue = broker.UniqueQueueName(name);
        await _amqp.DeclareExchangeAsync(exchange, ExchangeType.Topic, durable: false);
        await _amqp.DeclareQueueAsync(sink, expiresSeconds: 600, durable: true);
        await _amqp.BindQueueAsync(sink, exchange, "chat.#");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRoutingKey = "chat.${to}";
        });

        for (var i = 0; i < publishers.Length; i++)
        {
            var (sub, answer) = publishers[i];
            var own = $"{queue}-{i}";
            var claims = new Dictionary<string, object> { ["queues"] = new[] { own }, ["publish"] = new[] { "lobby" } };
            if (sub is not null)
            {
                claims["sub"] = sub;
            }

            await using var client = await gateway.ConnectWebSocketAsync($"/ws?id={own}&access_token={TestTokens.Hs256(claims)}");
            Assert.True(client.Connected, $"{client.Status} {client.Reason}");
            await client.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": {\"event\": \"subscribed\", \"subject\": \"admin\"}, \"type\": \"subscribed\"}}");
            Assert.Equal(answer, (await client.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        }

        var published = Assert.Single(await _amqp.ReceiveAsync(sink, 1, Timeout));
        Assert.Equal(publishedBy, Encoding.UTF8.GetString((byte[])published.Properties.Headers!["sender"]!));
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
        await _amqp.DeleteQueueAsync(sink);
        await _amqp.DeleteExchangeAsync(exchange);
    }

    [Fact]
    public async Task WithoutTokens_AMessageIdIsTheSameForOneClientAddress_AnotherAddressGivingTheSameTextGetsAnother()
    {
        // Without tokens the message_id was derived from the client's text alone: any other client sending the same
        // "message_id" (a guessable one: "c3f1a2d4-1", the next of a counter) made readers drop the first one's message,
        // or the one it sent later, as a copy. It is the publisher's, as far as the gateway can tell: its address, the
        // key of its ws.publish_rate budget.
        var room = broker.UniqueQueueName("anon-resend-room");
        var reader = broker.UniqueQueueName("anon-resend-reader");
        await _amqp.DeclareExchangeAsync(room, ExchangeType.Topic, durable: false);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.TrustedProxies = ["127.0.0.1", "::1"];
            o.Ws.Publish = true;
            o.Ws.PublishExchange = room;
        });
        await using var subscriber = await gateway.ConnectWebSocketAsync($"/ws?id={reader}");
        await _amqp.UntilConsumersAsync(reader, 1, Timeout, "the reader's queue is consumed");
        await _amqp.BindQueueAsync(reader, room, "lobby");

        async Task PublishAsync(string address)
        {
            await using var client = await gateway.ConnectWebSocketAsync(
                $"/ws?id={broker.UniqueQueueName("anon-resend")}", o => o.SetRequestHeader("X-Forwarded-For", address));
            Assert.True(client.Connected, $"{client.Status} {client.Reason}");
            await client.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"message_id\": \"c3f1a2d4-1\"}, \"ref\": \"m1\"}");
            Assert.Equal("{\"published\":\"m1\"}", (await client.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        }

        await PublishAsync("203.0.113.7");
        await PublishAsync("203.0.113.7"); // sent again, on another connection
        await PublishAsync("198.51.100.9"); // another client, the same text
        var received = await subscriber.ReceiveMessagesAsync(3, Timeout);
        Assert.All(received, m => Assert.Matches("^[0-9a-f]{32}$", m.MessageId));
        Assert.Equal(received[0].MessageId, received[1].MessageId);
        Assert.NotEqual(received[0].MessageId, received[2].MessageId);

        Assert.Equal(0u, await _amqp.MessageCountAsync(reader));
        await _amqp.DeleteExchangeAsync(room);
    }

    [Fact]
    public async Task WithoutTokens_APublishCarriesNoSenderHeader_AndSubscribersNoFrom()
    {
        var exchange = broker.UniqueQueueName("anon-exchange");
        var reader = broker.UniqueQueueName("anon-reader");
        var writer = broker.UniqueQueueName("anon-writer");
        var sink = broker.UniqueQueueName("anon-sink");
        await _amqp.DeclareExchangeAsync(exchange, ExchangeType.Topic, durable: false);
        await _amqp.DeclareQueueAsync(sink, expiresSeconds: 600, durable: true);
        await _amqp.BindQueueAsync(sink, exchange, "lobby");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
        });
        await using var subscriber = await gateway.ConnectWebSocketAsync($"/ws?id={reader}");
        await _amqp.UntilConsumersAsync(reader, 1, Timeout, "the reader's queue is consumed");
        await _amqp.BindQueueAsync(reader, exchange, "lobby");
        await using var client = await gateway.ConnectWebSocketAsync($"/ws?id={writer}");

        await client.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"who am I?\"}}");
        Assert.Equal("{\"published\":1}", (await client.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());

        var published = Assert.Single(await _amqp.ReceiveAsync(sink, 1, Timeout));
        Assert.Equal("who am I?", published.Text);
        Assert.NotNull(published.Properties.Headers);
        Assert.False(published.Properties.Headers.ContainsKey("sender"), "no sender header without tokens");
        var message = Assert.Single(await subscriber.ReceiveMessagesAsync(1, Timeout));
        Assert.Equal("who am I?", message.Data);
        Assert.Null(message.From);

        await _amqp.DeleteQueueAsync(sink);
        await _amqp.DeleteExchangeAsync(exchange);
    }

    [Fact]
    public async Task Topic_FromSurvivesTheLiveFeed_AndAResumeReadFromTheStream()
    {
        var room = broker.UniqueQueueName("sender-room");
        var stream = TopicOptions.DefaultPrefix + room;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = string.Empty;
            o.Ws.PublishRoutingKey = TopicOptions.DefaultPrefix + "${to}";
            // The feed keeps one recent event: a resume from the first reads the stream (CatchUpReader), not the feed.
            o.Topics.Recent = 1;
        });
        var aliceToken = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = "alice", ["topics"] = new[] { room }, ["publish"] = new[] { room } });
        var bobToken = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = "bob", ["topics"] = new[] { room } });
        await using var alice = await gateway.ConnectWebSocketAsync($"/ws/topics/{room}?access_token={aliceToken}");
        await using var bob = await gateway.ConnectWebSocketAsync($"/ws/topics/{room}?access_token={bobToken}");
        Assert.True(alice.Connected && bob.Connected, $"{alice.Status} {alice.Reason} / {bob.Status} {bob.Reason}");
        await Wait.UntilAsync(async () => await _amqp.QueueExistsAsync(stream), Timeout, "the room's stream exists");

        await alice.SendAsync($"{{\"publish\": {{\"to\": \"{room}\", \"data\": \"hello room\"}}, \"ref\": \"m1\"}}");
        Assert.Equal("{\"published\":\"m1\"}", (await alice.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        await _amqp.PublishAsync(stream, "from the bot", properties: WithSender("bot"));
        await _amqp.PublishAsync(stream, "anonymous");

        foreach (var live in new[] { alice, bob })
        {
            var events = await live.ReceiveMessagesAsync(3, Timeout);
            Assert.Equal(["hello room", "from the bot", "anonymous"], events.Select(e => e.Data));
            Assert.Equal(["alice", "bot", null], events.Select(e => e.From));
        }

        var catchUpsBefore = await gateway.MetricAsync("eventsourced_topic_catchups_total");
        await using var resumed = await gateway.ConnectWebSocketAsync($"/ws/topics/{room}?lastEventId=earliest&access_token={bobToken}");
        var again = await resumed.ReceiveMessagesAsync(3, Timeout);
        Assert.Equal(["hello room", "from the bot", "anonymous"], again.Select(e => e.Data));
        Assert.Equal(["alice", "bot", null], again.Select(e => e.From));
        Assert.Equal(catchUpsBefore + 1, await gateway.MetricAsync("eventsourced_topic_catchups_total"));

        await _amqp.DeleteQueueAsync(stream);
    }

    private static BasicProperties WithSender(string sender) =>
        new() { Headers = new Dictionary<string, object?> { ["sender"] = sender } };

    /// <summary>Polls (acknowledging each answer with the next poll) until <paramref name="count"/> messages came.</summary>
    private static async Task<List<JsonElement>> PollUntilAsync(GatewayServer gateway, string queue, string token, int count)
    {
        var messages = new List<JsonElement>();
        using var deadline = new CancellationTokenSource(Timeout);
        string? ack = null;
        while (messages.Count < count)
        {
            deadline.Token.ThrowIfCancellationRequested();
            var answer = await PollAsync(gateway, queue, token, ack);
            messages.AddRange(answer);
            ack = answer.Count > 0 ? answer[^1].GetProperty("id").GetString() : null;
        }

        return messages;
    }

    private static async Task<List<JsonElement>> PollAsync(GatewayServer gateway, string queue, string token, string? ack = null)
    {
        var path = $"/poll?id={Uri.EscapeDataString(queue)}&access_token={token}" + (ack is null ? "" : $"&ack={Uri.EscapeDataString(ack)}");
        using var response = await gateway.Client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"poll answered {(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.EnumerateArray().Select(m => m.Clone()).ToList();
    }
}
