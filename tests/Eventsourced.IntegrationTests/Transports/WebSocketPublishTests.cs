using System.Text;
using Eventsourced.Configuration;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>Clients publishing over their WebSocket (off by default), and keepalive: what the gateway does with a client that answers no ping.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class WebSocketPublishTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(WebSocketPublishTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Publish_Confirmed_ReachesTheBoundQueueWithItsProperties()
    {
        await using var lobby = await LobbyClientAsync(nameof(Publish_Confirmed_ReachesTheBoundQueueWithItsProperties));
        var (gateway, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hello, Grüße 🎉\", \"type\": \"chat\"}, \"ref\": \"r1\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": {\"text\": \"as JSON\", \"n\": [1, 2]}}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"AAEC\", \"base64\": true}, \"ref\": 7}");
        await ws.SendAsync("{\"publish\": {\"to\": \"nobody-listens\", \"data\": \"lost?\"}, \"ref\": \"r4\"}");
        var answers = await ws.ReceiveAnswersAsync(4, Timeout);

        Assert.Equal(["{\"published\":\"r1\"}", "{\"published\":2}", "{\"published\":7}", "{\"error\":\"no queue receives messages for this destination\",\"ref\":\"r4\"}"],
            answers.Select(a => a.GetRawText()));
        var received = await _amqp.ReceiveAsync(sink, 3, Timeout);
        Assert.Equal("hello, Grüße 🎉", received[0].Text);
        Assert.Equal("chat", received[0].Properties.Type);
        Assert.Equal("text/plain; charset=utf-8", received[0].Properties.ContentType);
        Assert.Equal("eventsourced", received[0].Properties.AppId);
        Assert.False(string.IsNullOrEmpty(received[0].Properties.MessageId));
        Assert.Equal("{\"text\": \"as JSON\", \"n\": [1, 2]}", received[1].Text);
        Assert.Equal("application/json", received[1].Properties.ContentType);
        Assert.Equal(new byte[] { 0, 1, 2 }, received[2].Body);
        Assert.Contains("eventsourced_client_publishes_total{outcome=\"published\"} 3\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_Malformed_IsAnsweredWithItsRef_PublishesNothing_TheConnectionGoesOn()
    {
        // Before: a malformed publish closed the connection with 1008, as if it were no message of the protocol at all.
        await using var lobby = await LobbyClientAsync(nameof(Publish_Malformed_IsAnsweredWithItsRef_PublishesNothing_TheConnectionGoesOn));
        var (gateway, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": 5}, \"ref\": \"a\"}");
        await ws.SendAsync("{\"publish\": {\"data\": \"no to\"}, \"ref\": 7}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"!!\", \"base64\": true}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"x\"}, \"ref\": [\"r\"]}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\"}, \"ref\": \"" + new string('r', 80) + "\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"fine\"}}");
        var answers = await ws.ReceiveAnswersAsync(6, Timeout);

        Assert.Equal(
            [
                "{\"error\":\"\\\"publish\\\" needs \\\"to\\\", a string\",\"ref\":\"a\"}",
                "{\"error\":\"\\\"publish\\\" needs \\\"to\\\", a string\",\"ref\":7}",
                "{\"error\":\"\\\"data\\\" must be base64 when \\\"base64\\\" is true\",\"ref\":3}",
                "{\"error\":\"\\\"ref\\\" must be a string or a number\"}",
                "{\"error\":\"\\\"publish\\\" needs \\\"data\\\"\"}",
                "{\"published\":6}",
            ],
            answers.Select(a => a.GetRawText()));
        Assert.False(ws.Ended);
        var received = await _amqp.ReceiveAsync(sink, 1, Timeout);
        Assert.Equal("fine", received[0].Text);
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
        Assert.Contains("eventsourced_client_publishes_total{outcome=\"refused\"} 5\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Not the protocol at all still ends the connection.
        await ws.SendAsync("{\"publish\": {\"to\": \"a\", \"to\": \"b\", \"data\": 1}}");
        await ws.WaitForCloseAsync(Timeout);
        Assert.Equal((System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, "a member is given twice"), (ws.CloseStatus, ws.CloseDescription));
    }

    [Fact]
    public async Task Publish_Off_ByDefault_AnswersAnErrorAndPublishesNothing()
    {
        var (_, sink) = await RoomAsync(nameof(Publish_Off_ByDefault_AnswersAnErrorAndPublishesNothing), "lobby");
        var queue = broker.UniqueQueueName(nameof(Publish_Off_ByDefault_AnswersAnErrorAndPublishesNothing));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\"}}");
        var answer = Assert.Single(await ws.ReceiveAnswersAsync(1, Timeout));

        Assert.Equal("{\"error\":\"publishing is off (ws.publish)\",\"ref\":1}", answer.GetRawText());
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
        Assert.False(ws.Ended);
    }

    [Fact]
    public async Task Publish_OverTheRate_IsRefusedWithAnErrorFrame()
    {
        var (exchange, sink) = await RoomAsync(nameof(Publish_OverTheRate_IsRefusedWithAnErrorFrame), "lobby");
        var queue = broker.UniqueQueueName(nameof(Publish_OverTheRate_IsRefusedWithAnErrorFrame));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRate = 1;
            o.Ws.PublishBurst = 2;
        });
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");

        for (var i = 1; i <= 3; i++)
        {
            await ws.SendAsync($"{{\"publish\": {{\"to\": \"lobby\", \"data\": \"m{i}\"}}}}");
        }

        var answers = await ws.ReceiveAnswersAsync(3, Timeout);
        Assert.Equal("{\"published\":1}", answers[0].GetRawText());
        Assert.Equal("{\"published\":2}", answers[1].GetRawText());
        Assert.Equal("rate limit exceeded (ws.publish_rate: 1 per second)", answers[2].GetProperty("error").GetString());
        Assert.Equal(2u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task Publish_OverTheRate_CountsEveryConnectionOfOneClient()
    {
        // Before: the rate was per connection, so a client publishing from a second WebSocket (any number of topic
        // sockets, each with a budget of its own) published publish_burst more at once.
        var (exchange, sink) = await RoomAsync(nameof(Publish_OverTheRate_CountsEveryConnectionOfOneClient), "lobby");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRate = 1;
            o.Ws.PublishBurst = 2;
        });
        await using var first = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName(nameof(Publish_OverTheRate_CountsEveryConnectionOfOneClient) + "-1")}");
        await using var second = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName(nameof(Publish_OverTheRate_CountsEveryConnectionOfOneClient) + "-2")}");

        await first.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"m1\"}}");
        await first.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"m2\"}}");
        Assert.Equal(["{\"published\":1}", "{\"published\":2}"], (await first.ReceiveAnswersAsync(2, Timeout)).Select(a => a.GetRawText()));
        await second.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"m3\"}}");

        var answer = Assert.Single(await second.ReceiveAnswersAsync(1, Timeout));
        Assert.Equal("rate limit exceeded (ws.publish_rate: 1 per second)", answer.GetProperty("error").GetString());
        Assert.Equal(2u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task Publish_ToAMissingExchange_AnswersAnError_AndTheNextPublishWorksOnceItExists()
    {
        var exchange = broker.UniqueQueueName("missing-exchange");
        var queue = broker.UniqueQueueName(nameof(Publish_ToAMissingExchange_AnswersAnError_AndTheNextPublishWorksOnceItExists));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
        });
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"first\"}}");
        Assert.Equal("the broker did not take the message", (await ws.ReceiveAnswersAsync(1, Timeout))[0].GetProperty("error").GetString());

        var sink = broker.UniqueQueueName("sink");
        await using (var channel = await _amqp.Connection.CreateChannelAsync())
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: false, autoDelete: true);
            await channel.QueueDeclareAsync(sink, durable: false, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(sink, exchange, "lobby");
        }

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"second\"}}");
        Assert.Equal("{\"published\":2}", (await ws.ReceiveAnswersAsync(2, Timeout))[1].GetRawText());
        Assert.Equal("second", (await _amqp.ReceiveAsync(sink, 1, Timeout))[0].Text);
        await _amqp.DeleteQueueAsync(sink);
    }

    /// <summary>
    /// Every publish the broker refuses for the same reason (a missing exchange here; a broker user without write on
    /// <c>ws.publish_exchange</c> the same) was one warning (event 330): as many lines as clients' messages. The first is
    /// logged, the rest counted once per 10 s (event 332), and each client still gets its error frame.
    /// </summary>
    [Fact]
    public async Task Publish_RefusedAgainAndAgain_IsLoggedOnce_NotPerMessage()
    {
        const int Messages = 8;
        var log = new CollectedLog();
        var exchange = broker.UniqueQueueName("missing-exchange");
        var queue = broker.UniqueQueueName(nameof(Publish_RefusedAgainAndAgain_IsLoggedOnce_NotPerMessage));
        await using (var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishBurst = Messages;
        }, log))
        {
            await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
            for (var i = 0; i < Messages; i++)
            {
                await ws.SendAsync($"{{\"publish\": {{\"to\": \"lobby\", \"data\": \"m{i}\"}}}}");
            }

            var answers = await ws.ReceiveAnswersAsync(Messages, Timeout);
            Assert.All(answers, a => Assert.Equal("the broker did not take the message", a.GetProperty("error").GetString()));
            var first = Assert.Single(log.Entries, e => e.EventId == 330);
            Assert.Contains("NOT_FOUND", first.Message, StringComparison.Ordinal);
        }

        // Stopping writes what was counted.
        var repeated = Assert.Single(log.Entries, e => e.EventId == 332);
        Assert.Contains($"failed {Messages - 1} more times in the last ", repeated.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientThatAnswersNoPing_IsDropped_AndItsQueueIsFreeAgain()
    {
        var queue = broker.UniqueQueueName(nameof(ClientThatAnswersNoPing_IsDropped_AndItsQueueIsFreeAgain));
        var alive = broker.UniqueQueueName(nameof(ClientThatAnswersNoPing_IsDropped_AndItsQueueIsFreeAgain) + "-alive");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Server.WriteTimeoutSeconds = 2;
        });
        await using var answering = await gateway.ConnectWebSocketAsync($"/ws?id={alive}");

        // A client that completes the upgrade and then never reads nor answers (a vanished phone, a stuck tab).
        var upgrade = await RawWebSocket.UpgradeAsync(gateway.Port, $"/ws?id={queue}");
        using var silent = upgrade.Client;
        Assert.StartsWith("HTTP/1.1 101", upgrade.Head, StringComparison.Ordinal);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the silent client's queue is consumed");

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the gateway drops the client that answers no ping");

        // The client that answers pings (ClientWebSocket does) stays.
        Assert.False(answering.Ended);
        Assert.Equal(1u, await _amqp.ConsumerCountAsync(alive));
    }

    /// <summary>
    /// A client that sends publishes whose answers repeat what it sent (a <c>ref</c> of 60,000 characters; publishing is
    /// off, as by default, and the refusal carries the <c>ref</c> too) and reads no answer. The answers waiting for it were
    /// bounded only by their number (1,024): the gateway read on and held about 64 MiB of the client's own text per
    /// connection until the write timeout (six such connections grew a gateway by 490 MB in a second). Bounded in bytes as
    /// well, the gateway stops reading such a client after about a mebibyte of unread answers, and its sends stall.
    /// </summary>
    [Fact]
    public async Task ClientSendingLongRefsAndReadingNoAnswer_IsNoLongerReadOnceAMebibyteOfAnswersWaits()
    {
        const int Messages = 1020; // below the 1,024 answers that end a client by their number
        var queue = broker.UniqueQueueName(nameof(ClientSendingLongRefsAndReadingNoAnswer_IsNoLongerReadOnceAMebibyteOfAnswersWaits));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 0;
            o.Server.WriteTimeoutSeconds = 120; // no write timeout ends it meanwhile
        });
        var upgrade = await RawWebSocket.UpgradeAsync(gateway.Port, $"/ws?id={queue}");
        using var client = upgrade.Client;
        client.ReceiveBufferSize = 4096;
        Assert.StartsWith("HTTP/1.1 101", upgrade.Head, StringComparison.Ordinal);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        var payload = Encoding.UTF8.GetBytes($"{{\"publish\": {{\"to\": \"lobby\", \"data\": 1}}, \"ref\": \"{new string('r', 60_000)}\"}}");
        byte[] frame = [0x81, 0x80 | 126, (byte)(payload.Length >> 8), (byte)payload.Length, 0, 0, 0, 0, .. payload]; // masked with zeros
        var stream = client.GetStream();
        var sent = 0;
        for (; sent < Messages; sent++)
        {
            using var stall = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                await stream.WriteAsync(frame, stall.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                break; // the gateway reads no more of it (or has ended the connection)
            }
        }

        // What the kernel buffers both ways takes, and the mebibyte: far from all of it.
        Assert.True(sent < Messages, $"the gateway read all {Messages} messages of 60 kB from a client that reads no answer");
    }

    /// <summary>A topic exchange and a queue bound to it with <paramref name="routingKey"/>: where published messages land.</summary>
    [Fact]
    public async Task Publish_TypedErrorOrOpen_WithSseEventTypes_IsRefused_NothingPublished()
    {
        // With sse.event an EventSource hands a message typed error or open to the page's onerror or onopen: one client's
        // publish made every SSE page reading the room take it for a lost (or new) connection, its data never shown.
        await using var lobby = await LobbyClientAsync(nameof(Publish_TypedErrorOrOpen_WithSseEventTypes_IsRefused_NothingPublished), o =>
        {
            o.Sse.Event = true;
        });
        var (_, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"boom\", \"type\": \"error\"}, \"ref\": \"e\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"type\": \"open\"}, \"ref\": \"o\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"fine\", \"type\": \"chat\"}, \"ref\": \"c\"}");
        var answers = await ws.ReceiveAnswersAsync(3, Timeout);

        Assert.StartsWith("{\"error\":\"type 'error' is not published here: with sse.event", answers[0].GetRawText(), StringComparison.Ordinal);
        Assert.StartsWith("{\"error\":\"type 'open' is not published here", answers[1].GetRawText(), StringComparison.Ordinal);
        Assert.Equal("{\"published\":\"c\"}", answers[2].GetRawText());
        var received = await _amqp.ReceiveAsync(sink, 1, Timeout);
        Assert.Equal("fine", received[0].Text);
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task Publish_TypedAsAReservedTypeWithCrLfOrNul_WithSseEventTypes_IsRefused_NothingPublished()
    {
        // The SSE stream drops CR, LF and NUL from a field: "error\u0000" and "op\ren" passed the check and reached every
        // EventSource reading the room as event: error and event: open, "e\nnd" as the gateway's own end event.
        await using var lobby = await LobbyClientAsync(nameof(Publish_TypedAsAReservedTypeWithCrLfOrNul_WithSseEventTypes_IsRefused_NothingPublished), o =>
        {
            o.Sse.Event = true;
            o.Sse.EndEvent = "end";
            o.Sse.HeartbeatEvent = "beat";
        });
        var (_, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"boom\", \"type\": \"error\\u0000\"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\", \"type\": \"op\\ren\"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"token expired\", \"type\": \"e\\r\\nnd\"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"\", \"type\": \"\\u0000beat\"}}");
        // Readers get a type without surrounding white space (MessageType): " error " reaches an EventSource as error.
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"boom\", \"type\": \" error \"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"fine\", \"type\": \"chat\\u0000\"}}");
        var answers = await ws.ReceiveAnswersAsync(6, Timeout);

        Assert.Equal(
            "type 'error' (as an EventSource reads it: a type loses CR, LF, NUL and surrounding white space) is not published here: with sse.event an EventSource hands it to the page's onerror; choose another type",
            answers[0].GetProperty("error").GetString());
        Assert.StartsWith("type 'open' (as an EventSource reads it", answers[1].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("takes it for the end of its stream (sse.end_event); choose another type", answers[2].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("type 'beat' (as an EventSource reads it", answers[3].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("type 'error' (as an EventSource reads it", answers[4].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("{\"published\":6}", answers[5].GetRawText());
        var received = await _amqp.ReceiveAsync(sink, 1, Timeout);
        Assert.Equal("fine", received[0].Text);
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task Publish_TypedAsTheGatewaysEndOrHeartbeatEvent_WithSseEventTypes_IsRefused_NothingPublished()
    {
        // With sse.event and sse.end_event, one client's publish typed "end" with the data "token expired" reached every SSE
        // page reading the room as the gateway's own end: the README's recipe renews its token and subscribes again from its
        // last id, before that message, which then comes again: every page looped. A "heartbeat" kept dead pages' watchdogs fed.
        await using var lobby = await LobbyClientAsync(nameof(Publish_TypedAsTheGatewaysEndOrHeartbeatEvent_WithSseEventTypes_IsRefused_NothingPublished), o =>
        {
            o.Sse.Event = true;
            o.Sse.EndEvent = "end";
            o.Sse.HeartbeatEvent = "beat";
        });
        var (_, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"token expired\", \"type\": \"end\"}, \"ref\": \"e\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"\", \"type\": \"beat\"}, \"ref\": \"b\"}");
        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"fine\", \"type\": \"ending\"}, \"ref\": \"c\"}");
        var answers = await ws.ReceiveAnswersAsync(3, Timeout);

        Assert.StartsWith("{\"error\":\"type 'end' is not published here: with sse.event an EventSource page takes it for the end of its stream (sse.end_event)", answers[0].GetRawText(), StringComparison.Ordinal);
        Assert.StartsWith("{\"error\":\"type 'beat' is not published here: with sse.event an EventSource page takes it for a heartbeat (sse.heartbeat_event)", answers[1].GetRawText(), StringComparison.Ordinal);
        Assert.Equal("{\"published\":\"c\"}", answers[2].GetRawText());
        var received = await _amqp.ReceiveAsync(sink, 1, Timeout);
        Assert.Equal("fine", received[0].Text);
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task Publish_EmptyType_WithSseEventTypesAndNoHeartbeatEvent_IsPublished()
    {
        // sse.heartbeat_event unset ('') is no type to refuse: a publish with the empty type goes through.
        await using var lobby = await LobbyClientAsync(nameof(Publish_EmptyType_WithSseEventTypesAndNoHeartbeatEvent_IsPublished), o =>
        {
            o.Sse.Event = true;
            o.Sse.EndEvent = "end";
        });
        var (_, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"untyped\", \"type\": \"\"}, \"ref\": \"u\"}");

        Assert.Equal("{\"published\":\"u\"}", (await ws.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        Assert.Equal("untyped", (await _amqp.ReceiveAsync(sink, 1, Timeout))[0].Text);
    }

    [Fact]
    public async Task Publish_TypedAsTheEndEvent_WithoutSseEventTypes_IsPublished()
    {
        // Without sse.event a message's type is no SSE event type: "end" reaches pages as a plain message.
        await using var lobby = await LobbyClientAsync(nameof(Publish_TypedAsTheEndEvent_WithoutSseEventTypes_IsPublished), o =>
        {
            o.Sse.EndEvent = "end";
        });
        var (gateway, ws, sink) = lobby;

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"over\", \"type\": \"end\"}, \"ref\": \"e\"}");

        Assert.Equal("{\"published\":\"e\"}", (await ws.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        Assert.Equal("over", (await _amqp.ReceiveAsync(sink, 1, Timeout))[0].Text);
    }

    /// <summary>
    /// A gateway publishing its WebSocket clients' messages to a room's exchange with the routing key <c>chat.${to}</c>
    /// (<see cref="RoomAsync"/>, whose sink queue is bound with <c>chat.lobby</c>), and one client of it.
    /// </summary>
    private async Task<LobbyClient> LobbyClientAsync(string test, Action<GatewayOptions>? configure = null)
    {
        var (exchange, sink) = await RoomAsync(test, "chat.lobby");
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRoutingKey = "chat.${to}";
            configure?.Invoke(o);
        });
        try
        {
            return new LobbyClient(gateway, await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName(test)}"), sink);
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    private sealed record LobbyClient(GatewayServer Gateway, WebSocketClient Ws, string Sink) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Ws.DisposeAsync();
            await Gateway.DisposeAsync();
        }
    }

    private async Task<(string Exchange, string Sink)> RoomAsync(string test, string routingKey)
    {
        var exchange = broker.UniqueQueueName(test + "-exchange");
        var sink = broker.UniqueQueueName(test + "-sink");
        await using var channel = await _amqp.Connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: false, autoDelete: true);
        await channel.QueueDeclareAsync(sink, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-expires"] = 600_000 });
        await channel.QueueBindAsync(sink, exchange, routingKey);
        return (exchange, sink);
    }
}
