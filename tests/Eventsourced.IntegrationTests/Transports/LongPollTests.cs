using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Eventsourced.Configuration;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>The long-poll endpoint with plain HTTP clients: answers, waits, acknowledgements by the next poll, holds.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class LongPollTests(BrokerFixture broker) : IAsyncLifetime
{
    /// <summary>An answer's id, of a subscription that has ended (another nonce): a poll may name it, and it acknowledges nothing.</summary>
    private const string StaleId = "0123456789ab-1";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(LongPollTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Poll_MessagesWaiting_AnsweredAtOnceUpToTheMaximum()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_MessagesWaiting_AnsweredAtOnceUpToTheMaximum));
        await using var gateway = await StartWithMessagesAsync(queue, o =>
        {
            o.Poll.MaxMessages = 3;
            o.Poll.WaitSeconds = 30;
        }, "a", "b\nc", "{\"x\":1}", "d", "e");

        var started = Stopwatch.StartNew();
        var first = await PollAsync(gateway, queue);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"answered after {started.Elapsed}, not at once");
        Assert.Equal(["a", "b\nc", "{\"x\":1}"], first.Select(m => m.Data));
        Assert.All(first, m => Assert.Null(m.Type));
        var second = await PollAsync(gateway, queue, ack: first[^1].Id);
        Assert.Equal(["d", "e"], second.Select(m => m.Data));
    }

    /// <summary>
    /// A client that handles messages slowly asks for fewer at a time (<c>?max=</c>), so that an answer fits in
    /// <c>poll.hold</c>; without it, such a client got the same 100 messages back for ever. Asking for fewer than the
    /// unacknowledged answer it gets again cuts that answer (same ids), and the rest comes next, in order.
    /// </summary>
    [Fact]
    public async Task Poll_Max_AnswersAtMostThatMany_AnAnswerGivenAgainIsCut_AndNothingIsSkippedOrRepeated()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_Max_AnswersAtMostThatMany_AnAnswerGivenAgainIsCut_AndNothingIsSkippedOrRepeated));
        await using var gateway = await StartWithMessagesAsync(queue, o => o.Poll.MaxMessages = 5, [.. Enumerable.Range(1, 12).Select(i => $"m{i}")]);

        var first = await PollAsync(gateway, queue, max: 3);
        Assert.Equal(["m1", "m2", "m3"], first.Select(m => m.Data));

        // Lost, and asked for again with a smaller max: the first two of the same answer, ids and all.
        var cut = await PollAsync(gateway, queue, max: 2);
        Assert.Equal(first.Take(2), cut);

        // Acknowledged: what the cut left comes first, then the rest; more than poll.max_messages asks for all 5.
        var next = await PollAsync(gateway, queue, ack: cut[^1].Id, max: 1000);
        Assert.Equal(["m3", "m4", "m5", "m6", "m7"], next.Select(m => m.Data));
        Assert.Equal(first[2], next[0]);
        var rest = await PollAsync(gateway, queue, ack: next[^1].Id);
        Assert.Equal(["m8", "m9", "m10", "m11", "m12"], rest.Select(m => m.Data));
        Assert.Empty(await PollAsync(gateway, queue, ack: rest[^1].Id));
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
    }

    [Theory]
    [InlineData("max=0")]
    [InlineData("max=000")]
    [InlineData("max=-1")]
    [InlineData("max=%2B3")]
    [InlineData("max=1.5")]
    [InlineData("max=")]
    [InlineData("max=ten")]
    [InlineData("max=%EF%BC%93")]
    public async Task Poll_MaxNotAWholeNumberFromOne_Is400(string query)
    {
        var queue = broker.UniqueQueueName(nameof(Poll_MaxNotAWholeNumberFromOne_Is400));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        using var refused = await gateway.Client.GetAsync($"/poll?id={queue}&{query}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("query parameter 'max' must be a whole number from 1 (at most poll.max_messages, 100, are answered)", refused.Headers.GetValues("X-Status-Reason").Single());
        using var twice = await gateway.Client.GetAsync($"/poll?id={queue}&max=1&max=2");
        Assert.Equal("query parameter 'max' given more than once", twice.Headers.GetValues("X-Status-Reason").Single());
        Assert.Null(await _amqp.ConsumerCountAsync(queue)); // refused before the queue was declared
    }

    [Fact]
    public async Task Poll_NothingWaiting_WaitsForTheFirstMessage()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_NothingWaiting_WaitsForTheFirstMessage));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 60);

        var started = Stopwatch.StartNew();
        var polling = PollAsync(gateway, queue);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the poll consumes the queue");
        await _amqp.PublishAsync(queue, "came while waiting");
        var answer = await polling.WaitAsync(Timeout);

        Assert.Equal("came while waiting", Assert.Single(answer).Data);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"answered after {started.Elapsed}");
    }

    [Fact]
    public async Task Poll_NothingArrives_AnswersAnEmptyArrayAfterTheWait()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_NothingArrives_AnswersAnEmptyArrayAfterTheWait));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);

        var started = Stopwatch.StartNew();
        using var response = await gateway.Client.GetAsync($"/poll?id={queue}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[]", await response.Content.ReadAsStringAsync());
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {started.Elapsed}, before the wait was over");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task Poll_AcknowledgedByTheNextPoll_IsNeverAnsweredAgain()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AcknowledgedByTheNextPoll_IsNeverAnsweredAgain));
        await using var gateway = await StartWithMessagesAsync(queue, o => o.Poll.HoldSeconds = 1, "one", "two");

        var batch = await PollAsync(gateway, queue);
        Assert.Equal(["one", "two"], batch.Select(m => m.Data));
        var next = await PollAsync(gateway, queue, ack: batch[^1].Id);
        Assert.Empty(next);

        // The hold runs out; nothing goes back to the queue.
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the held subscription ends");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
        Assert.Empty(await PollAsync(gateway, queue));
    }

    /// <summary>
    /// A client that handled part of an answer (it failed at the third message, or stopped to go away) names the last
    /// one it handled: that much is acknowledged, and the rest comes first in the next answer, ids and all. Such an
    /// ack was taken for no ack at all: the whole answer came again, what the client had handled included.
    /// </summary>
    [Fact]
    public async Task Poll_AckOfAnEarlierIdOfTheAnswer_AcknowledgesUpToIt_AndTheRestComesFirst_SameIds()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AckOfAnEarlierIdOfTheAnswer_AcknowledgesUpToIt_AndTheRestComesFirst_SameIds));
        await using var gateway = await StartWithMessagesAsync(queue, o => o.Poll.HoldSeconds = 1, "a", "b", "c", "d");

        var answer = await PollAsync(gateway, queue);
        Assert.Equal(["a", "b", "c", "d"], answer.Select(m => m.Data));
        await _amqp.PublishAsync(queue, "e");

        var next = await PollAsync(gateway, queue, ack: answer[1].Id);
        Assert.Equal(answer.Skip(2), next.Take(2));
        Assert.Equal(["c", "d", "e"], next.Select(m => m.Data));

        // Everything acknowledged once the last id is named; the hold runs out and nothing goes back to the queue.
        Assert.Empty(await PollAsync(gateway, queue, ack: next[^1].Id));
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the held subscription ends");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
    }

    [Fact]
    public async Task Poll_ResponseLost_PollWithoutAck_GetsTheSameBatchAgain()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_ResponseLost_PollWithoutAck_GetsTheSameBatchAgain));
        await using var gateway = await StartWithMessagesAsync(queue, null, "first", "second");

        // The gateway answers; the client's connection breaks before the client could use the answer (a tab closed,
        // a proxy dropped it). Read here only to know what was answered: a burst may come in one answer or more.
        IReadOnlyList<Polled> lost;
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, gateway.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /poll?id={queue} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
            lost = Parse(await ReadBodyAsync(stream));
            client.Client.LingerState = new LingerOption(true, 0);
        }

        Assert.NotEmpty(lost);
        Assert.Equal("first", lost[0].Data);
        await _amqp.PublishAsync(queue, "third");
        var again = await PollAsync(gateway, queue);
        Assert.Equal(lost, again);
        // And once more with an ack that is not the answer's last id (one of an ended subscription, as after a
        // restart): the same answer, never "third" before it.
        var once = await PollAsync(gateway, queue, ack: StaleId);
        Assert.Equal(lost, once);
        var after = await PollAsync(gateway, queue, ack: once[^1].Id);
        Assert.Equal(new[] { "first", "second", "third" }.Skip(lost.Count), after.Select(m => m.Data));
    }

    [Theory]
    [InlineData("ack={last}&ack=" + StaleId)]
    [InlineData("ack=" + StaleId + "&ack={last}")]
    [InlineData("ack={last}&ACK={last}")]
    public async Task Poll_AckGivenTwice_Is400_AndTheAnswerIsNeitherAcknowledgedNorHeldBack(string acks)
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AckGivenTwice_Is400_AndTheAnswerIsNeitherAcknowledgedNorHeldBack));
        await using var gateway = await StartWithMessagesAsync(queue, null, "one");
        var answer = await PollAsync(gateway, queue);
        Assert.Equal(["one"], answer.Select(m => m.Data));

        // Which of the two the client meant cannot be known: the order it wrote them in decided it.
        using var refused = await gateway.Client.GetAsync($"/poll?id={queue}&{acks.Replace("{last}", answer[^1].Id, StringComparison.Ordinal)}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("query parameter 'ack' given more than once", refused.Headers.GetValues("X-Status-Reason").Single());

        Assert.Equal(answer, await PollAsync(gateway, queue));
        Assert.Empty(await PollAsync(gateway, queue, ack: answer[^1].Id));
    }

    /// <summary>
    /// <c>acks</c> is a WebSocket's parameter; a poll took it silently: <c>acks=client</c> promised nothing that a poll does not do
    /// anyway, and <c>acks=ID</c> (one letter too many for <c>ack</c>) acknowledged nothing, so the client got the same answer on
    /// every poll, with nothing to tell it why. It is a 400 that names <c>ack</c>, and acknowledges nothing.
    /// </summary>
    [Theory]
    [InlineData("acks=client")]
    [InlineData("acks=auto")]
    [InlineData("acks={last}")]
    public async Task Poll_AcksParameter_Is400_NamingAck_AndTheAnswerStays(string acks)
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AcksParameter_Is400_NamingAck_AndTheAnswerStays));
        await using var gateway = await StartWithMessagesAsync(queue, null, "one");
        var answer = await PollAsync(gateway, queue);
        Assert.Equal(["one"], answer.Select(m => m.Data));

        using var refused = await gateway.Client.GetAsync($"/poll?id={queue}&{acks.Replace("{last}", answer[^1].Id, StringComparison.Ordinal)}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(
            "query parameter 'acks' is for WebSockets: a long-poll's answer is always acknowledged by the client, with the next poll naming its last id in 'ack' (/poll?...&ack=ID)",
            refused.Headers.GetValues("X-Status-Reason").Single());

        Assert.Equal(answer, await PollAsync(gateway, queue));
        Assert.Empty(await PollAsync(gateway, queue, ack: answer[^1].Id));
    }

    /// <summary>
    /// An <c>ack</c> that no answer could have had (a message's <c>message_id</c> in place of its <c>id</c>, a number) was
    /// ignored: the client got the same answer back on every poll, with nothing to tell it why, until
    /// <c>poll.ack_timeout</c> gave it back to the queue, and then again with new ids. It is a 400 that says what to name.
    /// </summary>
    [Theory]
    [InlineData("m-1")]
    [InlineData("17")]
    public async Task Poll_AckThatIsNoAnswersId_Is400_SayingWhatToName_AndTheAnswerStays(string ack)
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AckThatIsNoAnswersId_Is400_SayingWhatToName_AndTheAnswerStays));
        await using var gateway = await StartWithMessagesAsync(queue, null, "one");
        var answer = await PollAsync(gateway, queue);
        Assert.Equal(["one"], answer.Select(m => m.Data));

        using var refused = await gateway.Client.GetAsync($"/poll?id={queue}&ack={ack}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(
            $"query parameter 'ack' must be the \"id\" of the last message of the previous answer (such as 9f2c41a07b3e-2), not its message_id; got '{ack}'",
            refused.Headers.GetValues("X-Status-Reason").Single());

        Assert.Equal(answer, await PollAsync(gateway, queue));
        Assert.Empty(await PollAsync(gateway, queue, ack: answer[^1].Id));
    }

    [Fact]
    public async Task Poll_NoPollWithinTheHold_BatchGoesBackToTheQueue_AndComesAgain()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_NoPollWithinTheHold_BatchGoesBackToTheQueue_AndComesAgain));
        await using var gateway = await StartWithMessagesAsync(queue, o => o.Poll.HoldSeconds = 1, "kept");

        var batch = await PollAsync(gateway, queue);
        Assert.Equal("kept", Assert.Single(batch).Data);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the hold runs out");
        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));

        // An ack of the lapsed batch's id matches nothing now: the message comes again, with a new id.
        var again = await PollAsync(gateway, queue, ack: batch[0].Id);
        Assert.Equal("kept", Assert.Single(again).Data);
        Assert.NotEqual(batch[0].Id, again[0].Id);
        Assert.Contains("eventsourced_messages_requeued_total{reason=\"poll_unacknowledged\"} 1\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Poll_AnswerNeverAcknowledged_GoesBackToTheQueueAfterTheAckTimeout_BeforeTheBrokerClosesTheChannel()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_AnswerNeverAcknowledged_GoesBackToTheQueueAfterTheAckTimeout_BeforeTheBrokerClosesTheChannel));
        await using var gateway = await StartWithMessagesAsync(queue, o =>
        {
            o.Poll.HoldSeconds = 30;
            o.Poll.AckTimeoutSeconds = 1;
        }, "held");

        // A client that polls again and again and never acknowledges (RabbitMQ's consumer_timeout would close the
        // channel after 30 minutes, and every stream sharing it): the hold never runs out by itself.
        var batch = await PollAsync(gateway, queue);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(batch, await PollAsync(gateway, queue));

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the overdue subscription ends");
        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        var again = await PollAsync(gateway, queue, ack: batch[0].Id);
        Assert.Equal("held", Assert.Single(again).Data);
        Assert.NotEqual(batch[0].Id, again[0].Id);
    }

    [Fact]
    public async Task TwoPollsAtOnce_TheSecondGets503()
    {
        var queue = broker.UniqueQueueName(nameof(TwoPollsAtOnce_TheSecondGets503));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 30);

        var first = gateway.Client.GetAsync($"/poll?id={queue}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the first poll consumes the queue");
        using (var second = await gateway.Client.GetAsync($"/poll?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
            Assert.Equal("another request for this queue is in progress", second.Headers.GetValues("X-Status-Reason").Single());
        }

        // Neither an SSE stream nor a WebSocket gets the queue while the poll holds it.
        await using (var sse = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, sse.Status);
        }

        await _amqp.PublishAsync(queue, "for the first");
        using var answer = await first;
        Assert.Equal("for the first", Assert.Single(Parse(await answer.Content.ReadAsStringAsync())).Data);
    }

    [Fact]
    public async Task Poll_WhileAnSseStreamHoldsTheQueue_Gets503()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_WhileAnSseStreamHoldsTheQueue_Gets503));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var sse = await gateway.SubscribeAsync($"/?id={queue}");

        using var poll = await gateway.Client.GetAsync($"/poll?id={queue}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, poll.StatusCode);
        Assert.Equal("queue is already being consumed by another subscriber", poll.Headers.GetValues("X-Status-Reason").Single());
    }

    [Fact]
    public async Task Poll_MethodsNamesAndCors_AsTheStream()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);

        using var missing = await gateway.Client.GetAsync("/poll");
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("missing query parameter 'id'", missing.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal("*", missing.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var post = await gateway.Client.PostAsync("/poll?id=x", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

        using var preflight = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Options, "/poll?id=x"));
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal("GET, OPTIONS", preflight.Headers.GetValues("Access-Control-Allow-Methods").Single());
    }

    [Fact]
    public async Task Poll_BodyNotUtf8_IsBase64WithAFlag()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_BodyNotUtf8_IsBase64WithAFlag));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(queue, new byte[] { 0x80, 0x81 }, properties: new RabbitMQ.Client.BasicProperties { Type = "blob" });

        var message = Assert.Single(await PollAsync(gateway, queue));

        Assert.True(message.Base64);
        Assert.Equal("gIE=", message.Data);
        Assert.Equal("blob", message.Type);
    }

    [Fact]
    public async Task Poll_OfAHeldSubscription_MakesTheBindingsItsRequestNames_AsAReconnectingStreamWould()
    {
        // queue.bind with a value of the request: a later poll names another room than the first. Before, the held
        // subscription kept the first poll's bindings only, and what was published to the second room was unroutable:
        // lost, while every poll answered 200. An SSE stream binds at each (re)connect.
        var queue = broker.UniqueQueueName(nameof(Poll_OfAHeldSubscription_MakesTheBindingsItsRequestNames_AsAReconnectingStreamWould));
        var exchange = queue + "-rooms";
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Poll.WaitSeconds = 1;
            o.Queue.Bind = [$"{exchange}:topic:room.${{query:room}}"];
        });
        try
        {
            Assert.Empty(await PollRoomAsync(gateway, queue, "a"));
            Assert.Empty(await PollRoomAsync(gateway, queue, "b"));

            await _amqp.PublishToExchangeAsync(exchange, "room.b", "to room b", mandatory: true);
            await _amqp.PublishToExchangeAsync(exchange, "room.a", "to room a", mandatory: true);

            Assert.Equal(["to room b", "to room a"], (await PollRoomAsync(gateway, queue, "a")).Select(m => m.Data));
        }
        finally
        {
            await _amqp.DeleteExchangeAsync(exchange);
        }
    }

    private static async Task<IReadOnlyList<Polled>> PollRoomAsync(GatewayServer gateway, string queue, string room)
    {
        using var response = await gateway.Client.GetAsync($"/poll?id={Uri.EscapeDataString(queue)}&room={room}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"poll answered {(int)response.StatusCode}: {body}");
        return Parse(body);
    }

    /// <summary>
    /// A gateway with a <c>poll.wait</c> of 1 s and what <paramref name="configure"/> sets, after <paramref name="queue"/>
    /// was declared as the gateway declares it and <paramref name="messages"/> were published to it.
    /// </summary>
    private async Task<GatewayServer> StartWithMessagesAsync(string queue, Action<GatewayOptions>? configure, params string[] messages)
    {
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Poll.WaitSeconds = 1;
            configure?.Invoke(o);
        });
        try
        {
            await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
            foreach (var body in messages)
            {
                await _amqp.PublishAsync(queue, body);
            }

            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    private sealed record Polled(string Id, string? Type, string Data, bool Base64);

    private static async Task<IReadOnlyList<Polled>> PollAsync(GatewayServer gateway, string queue, string? ack = null, int? max = null)
    {
        var path = $"/poll?id={Uri.EscapeDataString(queue)}" + (ack is null ? "" : $"&ack={Uri.EscapeDataString(ack)}") + (max is null ? "" : $"&max={max}");
        using var response = await gateway.Client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"poll answered {(int)response.StatusCode}: {body}");
        return Parse(body);
    }

    /// <summary>Reads one HTTP/1.1 answer with a <c>Content-Length</c> from <paramref name="stream"/>; its body.</summary>
    private static async Task<string> ReadBodyAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var text = Encoding.UTF8.GetString(received.GetBuffer(), 0, (int)received.Length);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var head = text[..end];
                Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
                var length = int.Parse(head.Split("\r\n").Single(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                if (received.Length >= end + 4 + length)
                {
                    return Encoding.UTF8.GetString(received.GetBuffer(), end + 4, length);
                }
            }

            var n = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(n > 0, "the connection closed before the answer was complete");
            received.Write(buffer, 0, n);
        }
    }

    private static List<Polled> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(m => new Polled(
            m.GetProperty("id").GetString()!,
            m.GetProperty("type").ValueKind == JsonValueKind.Null ? null : m.GetProperty("type").GetString(),
            m.GetProperty("data").GetString()!,
            m.TryGetProperty("base64", out var flag) && flag.GetBoolean())).ToList();
    }
}
