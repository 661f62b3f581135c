using System.Net;
using System.Net.WebSockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>The WebSocket endpoint with .NET's <see cref="ClientWebSocket"/>: frames, refusals before the upgrade, acknowledgements.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class WebSocketTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(WebSocketTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Connect_EachMessage_IsOneJsonTextFrameWithIdTypeAndData()
    {
        var queue = broker.UniqueQueueName(nameof(Connect_EachMessage_IsOneJsonTextFrameWithIdTypeAndData));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        Assert.True(ws.Connected, $"upgrade refused: {ws.Status} {ws.Reason}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        await _amqp.PublishAsync(queue, "plain text");
        await _amqp.PublishAsync(queue, "two\r\nlines \"quoted\" \\ and Grüße 🎉", properties: new BasicProperties { Type = "price" });
        await _amqp.PublishAsync(queue, "{\"user\":42}");
        await _amqp.PublishAsync(queue, new byte[] { 0xff, 0x00, 0xc3, 0x28 });
        await _amqp.PublishAsync(queue, "");

        var messages = await ws.ReceiveMessagesAsync(5, Timeout);

        Assert.Equal(["plain text", "two\r\nlines \"quoted\" \\ and Grüße 🎉", "{\"user\":42}", "/wDDKA==", ""], messages.Select(m => m.Data));
        Assert.Equal([false, false, false, true, false], messages.Select(m => m.Base64));
        Assert.Equal(new byte[] { 0xff, 0x00, 0xc3, 0x28 }, messages[3].Bytes);
        Assert.Equal([null, "price", null, null, null], messages.Select(m => m.Type));
        var ids = messages.Select(m => m.Number).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(5, ids.Distinct().Count());
    }

    [Fact]
    public async Task Upgrade_Refused_BeforeTheUpgrade_WithStatusAndReason()
    {
        var queue = broker.UniqueQueueName(nameof(Upgrade_Refused_BeforeTheUpgrade_WithStatusAndReason));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example");

        await using (var missing = await gateway.ConnectWebSocketAsync("/ws"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.Status);
            Assert.Equal("missing query parameter 'id'", missing.Reason);
        }

        await using (var foreign = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => o.SetRequestHeader("Origin", "https://evil.example")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, foreign.Status);
            Assert.Equal("origin not allowed", foreign.Reason);
        }

        await using (var badAcks = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=sometimes"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, badAcks.Status);
            Assert.Equal("query parameter 'acks' must be 'client' or 'auto'", badAcks.Reason);
        }

        await using (var twice = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client&acks=client"))
        {
            // Both values were allowed ones: "must be 'client' or 'auto'" did not say what was wrong.
            Assert.Equal(HttpStatusCode.BadRequest, twice.Status);
            Assert.Equal("query parameter 'acks' given more than once", twice.Reason);
        }

        await using (var sse = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
            await using var second = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => o.SetRequestHeader("Origin", "https://app.example"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.Status);
            Assert.Equal("queue is already being consumed by another subscriber", second.Reason);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the SSE stream's consumer is gone");
        await using var allowed = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => o.SetRequestHeader("Origin", "https://app.example"));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, allowed.Status);
    }

    [Fact]
    public async Task Upgrade_WithTheSubscribersCookie_FromAnotherSite_IsRefusedUnlessListedWithCredentials()
    {
        // Browsers apply no CORS to WebSockets and send the user's cookies with the upgrade from any page: with the
        // queue named by a cookie and Access-Control-Allow-Origin '*', any site could read its visitors' queues.
        var queue = broker.UniqueQueueName(nameof(Upgrade_WithTheSubscribersCookie_FromAnotherSite_IsRefusedUnlessListedWithCredentials));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(queue, "private");
        await using var open = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${cookie:sid}");
        await using var listed = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Pattern = "${cookie:sid}";
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example";
            o.Header.Cors["Access-Control-Allow-Credentials"] = "true";
        });

        await using (var hijack = await open.ConnectWebSocketAsync("/ws", o =>
        {
            o.SetRequestHeader("Origin", "https://evil.example");
            o.SetRequestHeader("Cookie", $"sid={queue}");
        }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, hijack.Status);
            Assert.Equal("cookies are accepted from another origin's page only when header.cors lists that origin and allows credentials", hijack.Reason);
        }

        using (var sse = new HttpRequestMessage(HttpMethod.Get, "/"))
        {
            sse.Headers.Add("Origin", "https://evil.example");
            sse.Headers.Add("Cookie", $"sid={queue}");
            using var refused = await open.Client.SendAsync(sse, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));

        // The gateway's own origin (a page it served), and a listed origin that allows credentials, may.
        await using (var sameOrigin = await open.ConnectWebSocketAsync("/ws", o =>
        {
            o.SetRequestHeader("Origin", $"http://127.0.0.1:{open.Port}");
            o.SetRequestHeader("Cookie", $"sid={queue}");
        }))
        {
            Assert.Equal(HttpStatusCode.SwitchingProtocols, sameOrigin.Status);
            Assert.Equal("private", (await sameOrigin.ReceiveMessagesAsync(1, Timeout))[0].Data);
        }

        // Another visitor's queue (the first one's message may come back: its stream closed right after receiving it).
        var other = broker.UniqueQueueName(nameof(Upgrade_WithTheSubscribersCookie_FromAnotherSite_IsRefusedUnlessListedWithCredentials) + "-other");
        await _amqp.DeclareQueueAsync(other, expiresSeconds: 1800, durable: true);
        await _amqp.PublishAsync(other, "private again");
        await using var app = await listed.ConnectWebSocketAsync("/ws", o =>
        {
            o.SetRequestHeader("Origin", "https://app.example");
            o.SetRequestHeader("Cookie", $"sid={other}");
        });
        Assert.Equal(HttpStatusCode.SwitchingProtocols, app.Status);
        Assert.Equal("private again", (await app.ReceiveMessagesAsync(1, Timeout))[0].Data);
    }

    [Fact]
    public async Task Upgrade_WithTheSubscribersCookie_FromAnotherSite_IsRefused_AlsoWhenItsValueHasASpaceOrAComma()
    {
        // ASP.NET Core's Request.Cookies leaves such a cookie out, the gateway's own parser reads it: the origin check
        // took the request for one without the subscriber's cookie, and upgraded evil.example's page to the visitor's queue.
        foreach (var suffix in new[] { " of user 42", ",42" })
        {
            var queue = broker.UniqueQueueName(nameof(Upgrade_WithTheSubscribersCookie_FromAnotherSite_IsRefused_AlsoWhenItsValueHasASpaceOrAComma)) + suffix;
            await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
            await _amqp.PublishAsync(queue, "private");
            await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${cookie:sid}");

            await using (var hijack = await gateway.ConnectWebSocketAsync("/ws", o =>
            {
                o.SetRequestHeader("Origin", "https://evil.example");
                o.SetRequestHeader("Cookie", $"sid={queue}");
            }))
            {
                Assert.Equal(HttpStatusCode.Forbidden, hijack.Status);
                Assert.Equal("cookies are accepted from another origin's page only when header.cors lists that origin and allows credentials", hijack.Reason);
            }

            Assert.Equal(1u, await _amqp.MessageCountAsync(queue));
        }
    }

    [Fact]
    public async Task PlainGet_AtTheWebSocketPath_Answers426WithReason()
    {
        var queue = broker.UniqueQueueName(nameof(PlainGet_AtTheWebSocketPath_Answers426WithReason));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);

        using var response = await gateway.Client.GetAsync($"/ws?id={queue}");

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("expected a WebSocket upgrade", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal("websocket", response.Headers.Upgrade.Single().Name);
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("8", "dGhlIHNhbXBsZSBub25jZQ==", 426, "unsupported WebSocket version (Sec-WebSocket-Version '8'): this endpoint speaks version 13")]
    [InlineData(null, "dGhlIHNhbXBsZSBub25jZQ==", 426, "unsupported WebSocket version (no Sec-WebSocket-Version): this endpoint speaks version 13")]
    [InlineData("13", "short", 400, "invalid WebSocket upgrade: it needs Connection: Upgrade and a Sec-WebSocket-Key of 16 bytes in base64")]
    [InlineData("13", null, 400, "invalid WebSocket upgrade: it needs Connection: Upgrade and a Sec-WebSocket-Key of 16 bytes in base64")]
    public async Task MalformedUpgrade_AtTheWebSocketPath_SaysWhatIsWrong_NothingConsumed(string? version, string? key, int status, string reason)
    {
        // Before: "426 expected a WebSocket upgrade" for a request that is one, without the Sec-WebSocket-Version: 13 that
        // RFC 6455 requires with a refused version; a client could not tell what to change.
        var queue = broker.UniqueQueueName(nameof(MalformedUpgrade_AtTheWebSocketPath_SaysWhatIsWrong_NothingConsumed));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/ws?id={queue}");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        if (version is not null)
        {
            request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", version);
        }

        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", key);
        }

        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(reason, response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(status == 426 ? ["13"] : [], response.Headers.TryGetValues("Sec-WebSocket-Version", out var versions) ? versions : []);
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Upgrade_WithABody_Is400SayingSo_NothingConsumed(bool chunked)
    {
        // Before: "it needs Connection: Upgrade and a Sec-WebSocket-Key" for an upgrade that had both (Kestrel offers no
        // upgrade for a request with a body).
        var queue = broker.UniqueQueueName(nameof(Upgrade_WithABody_Is400SayingSo_NothingConsumed));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/ws?id={queue}");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Content = new StringContent("hello");
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
        }

        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid WebSocket upgrade: it must not have a body (Content-Length or Transfer-Encoding)", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("v1.json")]
    [InlineData("access_token, eyJhbGciOi")]
    public async Task Upgrade_AskingForASubprotocol_Is400_BeforeAnythingIsConsumed(string protocols)
    {
        // Before: 101 without a protocol, which such a client fails at once (a browser: "Sent non-empty
        // 'Sec-WebSocket-Protocol' header but no response was received"), after the gateway had begun to send it the queue.
        var queue = broker.UniqueQueueName(nameof(Upgrade_AskingForASubprotocol_Is400_BeforeAnythingIsConsumed));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/ws?id={queue}");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Protocol", protocols);
        using var timeout = new CancellationTokenSource(Timeout);

        using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("WebSocket subprotocols (Sec-WebSocket-Protocol) are not spoken here: open the WebSocket without any", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Theory]
    [InlineData("/ws", "/wss", "not a WebSocket endpoint: this path serves the event stream; WebSockets are at /ws")]
    [InlineData("", "/ws", "not a WebSocket endpoint: this path serves the event stream; WebSockets are switched off (ws.path)")]
    public async Task WebSocket_AtAStreamPath_Is400_NothingConsumed(string wsPath, string target, string reason)
    {
        // Served as an event stream, the queue's messages went into a 200 that the WebSocket client gives up on: acknowledged, lost.
        // Served as a poll, the queue was held for poll.hold, and the client's WebSocket at the right path refused as busy.
        var queue = broker.UniqueQueueName(nameof(WebSocket_AtAStreamPath_Is400_NothingConsumed));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.Path = wsPath);

        await using (var ws = await gateway.ConnectWebSocketAsync($"{target}?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, ws.Status);
            Assert.Equal(reason, ws.Reason);
        }

        await using (var topic = await gateway.ConnectWebSocketAsync($"/topics/{queue}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, topic.Status);
        }

        await using (var poll = await gateway.ConnectWebSocketAsync($"/poll?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, poll.Status);
            Assert.Equal(reason.Replace("the event stream", "long-polls", StringComparison.Ordinal), poll.Reason);
        }

        Assert.False(await _amqp.QueueExistsAsync(queue));
        Assert.False(await _amqp.QueueExistsAsync("topic." + queue));
        using var stream = await gateway.Client.GetAsync($"{target}?id={queue}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode); // a GET without the upgrade is the stream, as ever
    }

    [Fact]
    public async Task SecondWebSocket_OnTheSameQueue_Gets503_AndTheFirstKeepsStreaming()
    {
        var queue = broker.UniqueQueueName(nameof(SecondWebSocket_OnTheSameQueue_Gets503_AndTheFirstKeepsStreaming));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var first = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        await using var second = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");

        Assert.True(first.Connected);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.Status);
        await _amqp.PublishAsync(queue, "still mine");
        Assert.Equal("still mine", (await first.ReceiveMessagesAsync(1, Timeout))[0].Data);
    }

    [Fact]
    public async Task ClientAcks_Malformed_AreAnsweredAndAcknowledgeNothing_TheConnectionGoesOn()
    {
        // Before: a malformed acknowledgement closed the connection (1008), which gave back every message the client held:
        // all of them came again, on the next connection, though the client had handled them.
        var queue = broker.UniqueQueueName(nameof(ClientAcks_Malformed_AreAnsweredAndAcknowledgeNothing_TheConnectionGoesOn));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        await _amqp.PublishAsync(queue, "m1");
        await _amqp.PublishAsync(queue, "m2");
        var messages = await ws.ReceiveMessagesAsync(2, Timeout);

        await ws.SendAsync($"{{\"ack\": \"{messages[1].Number}\"}}");
        await ws.SendAsync("{\"ack\": 0}");
        await ws.SendAsync($"{{\"ack\": {messages[1].Number}, \"multiple\": \"yes\"}}");
        await ws.SendAsync("{\"ack\": {\"id\": 1}}");
        var answers = await ws.ReceiveAnswersAsync(4, Timeout);
        Assert.Equal(
            [
                $"{{\"error\":\"\\\"ack\\\" must be a message id (a positive integer)\",\"ack\":\"{messages[1].Number}\"}}",
                "{\"error\":\"\\\"ack\\\" must be a message id (a positive integer)\",\"ack\":0}",
                $"{{\"error\":\"\\\"multiple\\\" must be true or false\",\"ack\":{messages[1].Number}}}",
                "{\"error\":\"\\\"ack\\\" must be a message id (a positive integer)\"}",
            ],
            answers.Select(a => a.GetRawText()));
        Assert.True(await UnacknowledgedAsync(queue, 2), "nothing is acknowledged");

        // The connection is still there: corrected, the acknowledgement takes both, and nothing comes again.
        await ws.SendAsync($"{{\"ack\": {messages[1].Number}, \"multiple\": true}}");
        await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "both are acknowledged");
        await ws.CloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
        Assert.Equal(["m1", "m2"], ws.Messages.Select(m => m.Data));
    }

    [Theory]
    [InlineData(4001)]
    [InlineData(1001)]
    [InlineData(1000)]
    public async Task ClientCloses_TheGatewayEchoesItsCode_TheConsumerGoes(int code)
    {
        // RFC 6455 5.5.1: the answering close frame typically echoes the status code received; before, every client's
        // close was answered 1000, so a page that closed with its own code read another one in its close event.
        var queue = broker.UniqueQueueName(nameof(ClientCloses_TheGatewayEchoesItsCode_TheConsumerGoes) + code);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        await ws.CloseAsync((WebSocketCloseStatus)code);

        Assert.Equal((WebSocketCloseStatus)code, ws.CloseStatus);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task Ping_IsAnsweredWithItsPong_AcknowledgesNothing_TheConnectionGoesOn()
    {
        // A page cannot see the protocol's pings: without a frame it can ask for, a connection that the network dropped
        // without a word (a proxy or NAT that forgot it) left the page "open" for good, its queue unread meanwhile.
        // Before, {"ping": ...} closed the connection (1008, expected "ack" or "publish").
        var queue = broker.UniqueQueueName(nameof(Ping_IsAnsweredWithItsPong_AcknowledgesNothing_TheConnectionGoesOn));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        await _amqp.PublishAsync(queue, "m1");
        await ws.ReceiveMessagesAsync(1, Timeout);

        await ws.SendAsync("{\"ping\": 7}");
        await ws.SendAsync("{\"ping\": \"t-2\"}");
        await ws.SendAsync("{\"ping\": {\"nested\": true}}");
        var answers = await ws.ReceiveAnswersAsync(3, Timeout);
        Assert.Equal(["{\"pong\":7}", "{\"pong\":\"t-2\"}", "{\"pong\":null}"], answers.Select(a => a.GetRawText()));
        Assert.True(await UnacknowledgedAsync(queue, 1), "a ping acknowledges nothing");

        await _amqp.PublishAsync(queue, "m2");
        var both = await ws.ReceiveMessagesAsync(2, Timeout);
        await ws.SendAsync($"{{\"ack\": {both[1].Number}, \"multiple\": true}}");
        await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "both are acknowledged");
        Assert.Equal(["m1", "m2"], ws.Messages.Select(m => m.Data));
        Assert.Equal(3, ws.Answers.Count);
        await ws.CloseAsync();
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
    }

    [Fact]
    public async Task MessageThatBreaksARule_AfterPings_ThePongsComeBeforeTheClose()
    {
        // Whether the writer had sent the answers when the reader met the refused message was chance: by hand, two pings
        // and a message of no known kind in one write got their pongs in 2 tries of 3, only the close frame in the third.
        var queue = broker.UniqueQueueName(nameof(MessageThatBreaksARule_AfterPings_ThePongsComeBeforeTheClose));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var client = await OpenRawAsync(gateway, queue);
        var stream = client.GetStream();
        const int Pings = 200;
        var burst = new MemoryStream();
        foreach (var text in Enumerable.Range(1, Pings).Select(n => $"{{\"ping\":{n}}}").Append("{\"bogus\":1}"))
        {
            burst.Write(RawWebSocket.Frame(0x81, Encoding.UTF8.GetBytes(text), [0, 0, 0, 0])); // masked with a key of zeros
        }

        await stream.WriteAsync(burst.ToArray()); // in one write: the reader meets the last before the writer has run
        var bytes = await ReadToEndAsync(stream);

        var frames = new List<(int Opcode, byte[] Payload)>();
        for (var at = 0; at + 2 <= bytes.Length; at += 2 + bytes[at + 1])
        {
            frames.Add((bytes[at] & 0x0f, bytes[(at + 2)..(at + 2 + bytes[at + 1])]));
        }

        Assert.Equal(
            Enumerable.Range(1, Pings).Select(n => $"1 {{\"pong\":{n}}}").Append("8 1008 expected \"ack\", \"publish\" or \"ping\""),
            frames.Select(f => f.Opcode == 8
                ? $"8 {(f.Payload[0] << 8) | f.Payload[1]} {Encoding.UTF8.GetString(f.Payload, 2, f.Payload.Length - 2)}"
                : $"{f.Opcode} {Encoding.UTF8.GetString(f.Payload)}"));
    }

    [Fact]
    public async Task ClientAcks_OneWithheld_ComesBackAloneAfterReconnect()
    {
        var queue = broker.UniqueQueueName(nameof(ClientAcks_OneWithheld_ComesBackAloneAfterReconnect));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client"))
        {
            await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
            foreach (var body in new[] { "m1", "m2", "m3", "m4" })
            {
                await _amqp.PublishAsync(queue, body);
            }

            var messages = await ws.ReceiveMessagesAsync(4, Timeout);
            Assert.Equal(["m1", "m2", "m3", "m4"], messages.Select(m => m.Data));
            await ws.AckAsync(messages[0].Number);
            await ws.AckAsync(messages[2].Number);
            await ws.AckAsync(messages[3].Number);
            // Acknowledged to the broker only now: m2 is the one left unacknowledged.
            await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 1), Timeout, "the broker holds exactly one unacknowledged message");
            await ws.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the first connection's consumer is gone");
        Assert.Equal(1u, await _amqp.MessageCountAsync(queue));

        await using var again = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        var redelivered = await again.ReceiveMessagesAsync(1, Timeout);
        Assert.Equal("m2", Assert.Single(redelivered).Data);
        await again.AckAsync(redelivered[0].Number);
        await _amqp.PublishAsync(queue, "m5");
        var next = await again.ReceiveMessagesAsync(2, Timeout);
        Assert.Equal(["m2", "m5"], next.Select(m => m.Data));
        await again.AckAsync(next[1].Number);
        await again.CloseAsync();
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the second connection's consumer is gone");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
    }

    [Fact]
    public async Task ClientAcks_AnIdOfAnEarlierConnection_AcknowledgesNothingOnTheNext()
    {
        // A client that resends, after reconnecting, an acknowledgement it had not got through: with ids counted
        // from 1 on every connection it named the next connection's message of that number (one the client had not
        // handled yet) and acknowledged it to the broker, which then never delivered it again.
        var queue = broker.UniqueQueueName(nameof(ClientAcks_AnIdOfAnEarlierConnection_AcknowledgesNothingOnTheNext));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        ulong earlier;
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client"))
        {
            await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
            await _amqp.PublishAsync(queue, "m1");
            earlier = Assert.Single(await ws.ReceiveMessagesAsync(1, Timeout)).Number;
            await ws.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the first connection's consumer is gone");
        await using var again = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        var redelivered = Assert.Single(await again.ReceiveMessagesAsync(1, Timeout));
        Assert.Equal("m1", redelivered.Data);
        Assert.NotEqual(earlier, redelivered.Number);

        await again.AckAsync(earlier);
        await again.AckAsync(earlier, multiple: true);
        var answers = await again.ReceiveAnswersAsync(2, Timeout);
        Assert.All(answers, a => Assert.StartsWith("no such message outstanding", a.GetProperty("error").GetString(), StringComparison.Ordinal));
        Assert.True(await UnacknowledgedAsync(queue, 1), "the stale acknowledgement reached the broker");

        await again.AckAsync(redelivered.Number);
        await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "the message's own id acknowledges it");
    }

    [Fact]
    public async Task ClientAcks_Cumulative_AcknowledgesEverythingUpToTheId()
    {
        var queue = broker.UniqueQueueName(nameof(ClientAcks_Cumulative_AcknowledgesEverythingUpToTheId));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client"))
        {
            await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
            for (var i = 1; i <= 5; i++)
            {
                await _amqp.PublishAsync(queue, $"m{i}");
            }

            var messages = await ws.ReceiveMessagesAsync(5, Timeout);
            await ws.AckAsync(messages[1].Number);
            await ws.AckAsync(messages[2].Number, multiple: true);
            await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 2), Timeout, "m4 and m5 stay unacknowledged");
            // Covering only what was acknowledged already: nothing to do, and no error.
            await ws.AckAsync(messages[1].Number, multiple: true);
            await ws.CloseAsync();
            Assert.Empty(ws.Answers);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        await using var again = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        var redelivered = await again.ReceiveMessagesAsync(2, Timeout);
        Assert.Equal(["m4", "m5"], redelivered.Select(m => m.Data));
    }

    [Fact]
    public async Task ClientAcks_ClosedWithMessagesUnacknowledged_CountsThemRequeued()
    {
        // Counted delivered when written, and given back to the queue when the socket closed: without a requeue count the
        // counters said every one reached its client (a long-poll answer left unacknowledged counts as poll_unacknowledged).
        var queue = broker.UniqueQueueName(nameof(ClientAcks_ClosedWithMessagesUnacknowledged_CountsThemRequeued));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client"))
        {
            await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
            for (var i = 1; i <= 3; i++)
            {
                await _amqp.PublishAsync(queue, $"m{i}");
            }

            var messages = await ws.ReceiveMessagesAsync(3, Timeout);
            await ws.AckAsync(messages[0].Number);
            await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 2), Timeout, "m2 and m3 stay unacknowledged");
            await ws.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        Assert.Equal(2u, await _amqp.MessageCountAsync(queue));
        var metrics = await gateway.Client.GetStringAsync("/metrics");
        Assert.Contains("eventsourced_messages_delivered_total 3\n", metrics, StringComparison.Ordinal);
        Assert.Contains("eventsourced_messages_requeued_total{reason=\"ws_unacknowledged\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("eventsourced_messages_requeued_total{reason=\"ack_timeout\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientAcks_NotAcknowledgedWithinTheTimeout_IsDeliveredAgainOnTheSameConnection()
    {
        var queue = broker.UniqueQueueName(nameof(ClientAcks_NotAcknowledgedWithinTheTimeout_IsDeliveredAgainOnTheSameConnection));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.AckTimeoutSeconds = 1);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        await _amqp.PublishAsync(queue, "late");
        await _amqp.PublishAsync(queue, "acked");

        var first = await ws.ReceiveMessagesAsync(2, Timeout);
        await ws.AckAsync(first[1].Number);
        var again = await ws.ReceiveMessagesAsync(3, Timeout);

        Assert.Equal(["late", "acked", "late"], again.Select(m => m.Data));
        Assert.True(again[2].Number > again[1].Number, "a redelivery has a new id");
        await ws.AckAsync(again[2].Number);
        // The late acknowledgement of the first delivery names a message given back meanwhile: an error frame, nothing more.
        await ws.AckAsync(first[0].Number);
        var answer = Assert.Single(await ws.ReceiveAnswersAsync(1, Timeout));
        Assert.Equal(first[0].Number, answer.GetProperty("ack").GetUInt64());
        Assert.Contains("no such message outstanding", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "everything is acknowledged");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
        Assert.Contains("eventsourced_messages_requeued_total{reason=\"ack_timeout\"} 1\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.False(ws.Ended);
    }

    [Fact]
    public async Task ClientAcks_ARedelivery_HasANewIdButTheSameMessageId_SoThatTheClientCanDropIt()
    {
        // Acknowledged delivery between two clients (one publishes, the other acknowledges): the recipient that did
        // not acknowledge in time gets the message again with a new id; the message_id the gateway gave the publish
        // is what tells it that it has seen the message already.
        var name = broker.UniqueQueueName(nameof(ClientAcks_ARedelivery_HasANewIdButTheSameMessageId_SoThatTheClientCanDropIt));
        var queue = "inbox." + name;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.AckTimeoutSeconds = 1;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = "";
            o.Ws.PublishRoutingKey = "inbox.${to}";
            o.Queue.Pattern = "inbox.${query:id}";
        });
        await using var recipient = await gateway.ConnectWebSocketAsync($"/ws?id={name}&acks=client");
        Assert.True(recipient.Connected, $"upgrade refused: {recipient.Status} {recipient.Reason}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        await using var sender = await gateway.ConnectWebSocketAsync($"/ws?id={name}-sender");
        await sender.SendAsync($"{{\"publish\": {{\"to\": \"{name}\", \"data\": \"hello\"}}, \"ref\": \"r1\"}}");
        Assert.Equal("r1", Assert.Single(await sender.ReceiveAnswersAsync(1, Timeout)).GetProperty("published").GetString());
        await _amqp.PublishAsync(queue, "from a service", properties: new BasicProperties { MessageId = "svc-7" });
        await _amqp.PublishAsync(queue, "without one");

        var messages = await recipient.ReceiveMessagesAsync(4, Timeout);

        Assert.Equal(["hello", "from a service", "without one", "hello"], messages.Take(4).Select(m => m.Data));
        Assert.False(string.IsNullOrEmpty(messages[0].MessageId));
        Assert.Equal("svc-7", messages[1].MessageId);
        Assert.Null(messages[2].MessageId);
        Assert.NotEqual(messages[0].Number, messages[3].Number);
        Assert.Equal(messages[0].MessageId, messages[3].MessageId);
    }

    [Fact]
    public async Task ClientAcks_ABacklogLongerThanTheTimeout_WorkedThroughOneByOne_IsNotDeliveredAgain()
    {
        var queue = broker.UniqueQueueName(nameof(ClientAcks_ABacklogLongerThanTheTimeout_WorkedThroughOneByOne_IsNotDeliveredAgain));
        // A 2 s timeout, four times the client's 0.5 s per message: a loaded machine may hold an acknowledgement back
        // past 1 s, and the client's progress must be seen as such.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.AckTimeoutSeconds = 2);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        for (var i = 0; i < 10; i++)
        {
            await _amqp.PublishAsync(queue, $"m{i}");
        }

        // Each takes the client 0.5 s: the last is acknowledged 5 s after it came, two and a half times the timeout.
        var messages = await ws.ReceiveMessagesAsync(10, Timeout);
        foreach (var message in messages.Take(10))
        {
            await Task.Delay(500);
            await ws.AckAsync(message.Number);
        }

        await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "everything is acknowledged");
        await Task.Delay(2500);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m{i}"), ws.Messages.Select(m => m.Data));
        Assert.Empty(ws.Answers);
        Assert.Contains("eventsourced_messages_requeued_total{reason=\"ack_timeout\"} 0\n", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AutomaticAcks_ReceivedMessages_AreNotDeliveredAgain()
    {
        var queue = broker.UniqueQueueName(nameof(AutomaticAcks_ReceivedMessages_AreNotDeliveredAgain));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
            await _amqp.PublishAsync(queue, "once");
            Assert.Equal("once", (await ws.ReceiveMessagesAsync(1, Timeout))[0].Data);
            await Wait.UntilAsync(() => UnacknowledgedAsync(queue, 0), Timeout, "acknowledged once the client's TCP had it");
            await ws.AckAsync(1);
            var answer = Assert.Single(await ws.ReceiveAnswersAsync(1, Timeout));
            Assert.Contains("acks=client", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
            await ws.CloseAsync();
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
    }

    [Fact]
    public async Task ClientMessages_BreakingTheRules_CloseWithACodeThatSaysWhy()
    {
        var queue = broker.UniqueQueueName(nameof(ClientMessages_BreakingTheRules_CloseWithACodeThatSaysWhy));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Ws.MaxMessageSize = 1024);

        await using (var malformed = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            await malformed.SendAsync("{\"ack\": ");
            await malformed.WaitForCloseAsync(Timeout);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, malformed.CloseStatus);
            Assert.Equal("not a JSON text", malformed.CloseDescription);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        await using (var deep = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            // Valid JSON, deeper than the parser takes: closed as any bad message, with the real reason.
            await deep.SendAsync(new string('[', 40) + new string(']', 40));
            await deep.WaitForCloseAsync(Timeout);
            Assert.Equal(WebSocketCloseStatus.PolicyViolation, deep.CloseStatus);
            Assert.Equal("JSON nested more than 32 levels deep", deep.CloseDescription);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        await using (var binary = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            await binary.SendAsync([1, 2, 3], WebSocketMessageType.Binary);
            await binary.WaitForCloseAsync(Timeout);
            Assert.Equal(WebSocketCloseStatus.InvalidMessageType, binary.CloseStatus);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        await using (var large = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            await large.SendAsync("{\"ack\": 1, \"padding\": \"" + new string('x', 2000) + "\"}");
            await large.WaitForCloseAsync(Timeout);
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, large.CloseStatus);
            Assert.Equal("message larger than 1024 bytes", large.CloseDescription);
        }

        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Theory]
    [InlineData("unmasked", 1002)]
    [InlineData("reserved-opcode", 1002)]
    [InlineData("ping-over-125-bytes", 1002)]
    [InlineData("text-not-utf8", 1007)]
    public async Task ProtocolError_ClosesWithItsCode_ThenEndsTheConnectionGracefully_NotWithAReset(string frame, int code)
    {
        // Before: the close frame was sent, and then the connection was reset (ASP.NET Core aborts the connection when it
        // disposes a WebSocket that marked itself Aborted after a protocol error), which may discard that frame before the
        // client reads it: a browser then sees 1006 without a reason instead of 1002 or 1007.
        var queue = broker.UniqueQueueName(nameof(ProtocolError_ClosesWithItsCode_ThenEndsTheConnectionGracefully_NotWithAReset));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var client = await OpenRawAsync(gateway, queue);
        var stream = client.GetStream();

        byte[] Masked(byte first, byte[] payload) => RawWebSocket.Frame(first, payload, [0, 0, 0, 0]); // mask 0: the payload as it is
        await stream.WriteAsync(frame switch
        {
            "unmasked" => [0x81, 0x09, .. "{\"ack\":1}"u8],
            "reserved-opcode" => Masked(0x83, [1]),
            "ping-over-125-bytes" => [0x89, 0xFE, 0, 126, 0, 0, 0, 0, .. new byte[126]],
            _ => Masked(0x81, [(byte)'"', 0xFF, (byte)'"']),
        });

        // Everything the gateway sends, up to the end of the connection: a reset throws here.
        var bytes = await RawWebSocket.ReadToEndAsync(stream, Timeout);
        Assert.True(bytes.Length >= 4, $"a close frame, got {bytes.Length} bytes");
        Assert.Equal(0x88, bytes[^4]); // the close frame, last: FIN and opcode 8, two bytes of payload, the code
        Assert.Equal(2, bytes[^3]);
        Assert.Equal(code, (bytes[^2] << 8) | bytes[^1]);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task Frame_DeclaredLongerThanTheMaximum_IsClosedWith1009_AtOnce()
    {
        // RFC 6455 10.4: a frame header declaring 2^63-1 bytes was refused only once ws.max_message_size bytes of it had come.
        var queue = broker.UniqueQueueName(nameof(Frame_DeclaredLongerThanTheMaximum_IsClosedWith1009_AtOnce));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var client = await OpenRawAsync(gateway, queue);
        var stream = client.GetStream();

        // A text frame's header, 2^63-1 bytes, masked, and three bytes of its payload: nothing more comes.
        byte[] header = [0x81, 0x80 | 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x12, 0x34, 0x56, 0x78, 0x61, 0x62, 0x63];
        await stream.WriteAsync(header);
        await stream.FlushAsync();

        // The close frame, without waiting for more of the frame (FIN and opcode 8, its length, the code and the reason).
        var bytes = await RawWebSocket.ReadShortFrameAsync(stream, TimeSpan.FromSeconds(5));
        Assert.Equal((1009, "message larger than 65536 bytes"), RawWebSocket.CloseOf(bytes));
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Theory]
    [InlineData("bye", false, 1000, "")]
    [InlineData("\u00ff", false, 1007, "close reason is not valid UTF-8")]
    [InlineData("\u00ff", true, 1007, "close reason is not valid UTF-8")]
    public async Task ClientCloses_WithAReasonThatIsNotUtf8_IsAnsweredWith1007(string reason, bool split, int code, string answer)
    {
        // RFC 6455 7.4.1 and 8.1: a close reason is UTF-8; one that is not was answered with 1002 (protocol error).
        var queue = broker.UniqueQueueName(nameof(ClientCloses_WithAReasonThatIsNotUtf8_IsAnsweredWith1007));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var client = await OpenRawAsync(gateway, queue);
        var stream = client.GetStream();

        // A ping first (a frame the check skips), then the close: 1000 and the reason (Latin-1 0xFF is no UTF-8), masked.
        byte[] mask = [0x12, 0x34, 0x56, 0x78];
        byte[] payload = [0x03, 0xE8, .. reason.Select(c => (byte)c)];
        var ping = RawWebSocket.Frame(0x89, "abc"u8, mask);
        var close = RawWebSocket.Frame(0x88, payload, mask);
        if (split)
        {
            // The close frame's payload comes in reads of its own.
            byte[] first = [.. ping, .. close[..8]];
            await stream.WriteAsync(first);
            await stream.FlushAsync();
            await Task.Delay(200);
            await stream.WriteAsync(close[8..]);
        }
        else
        {
            byte[] both = [.. ping, .. close];
            await stream.WriteAsync(both);
        }

        // The pong, then the close frame: FIN and opcode 8, its length, the code and the reason.
        var bytes = await ReadToEndAsync(stream);
        Assert.Equal([0x8A, 3, .. "abc"u8], bytes[..5]);
        Assert.Equal((code, answer), RawWebSocket.CloseOf(bytes[5..]));
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task TextMessage_EndingWithinACharacter_BeforeAnEmptyLastFrame_IsAnsweredWith1007()
    {
        // ASP.NET Core's WebSocket checks each frame's UTF-8, but not a character cut by an empty last frame: the message
        // reached the gateway and was closed as "not a JSON text" (1008), where RFC 6455 8.1 says 1007.
        var queue = broker.UniqueQueueName(nameof(TextMessage_EndingWithinACharacter_BeforeAnEmptyLastFrame_IsAnsweredWith1007));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        using var client = await OpenRawAsync(gateway, queue);
        var stream = client.GetStream();

        // Masked with 0: {"ack":1} and the first two bytes of the three of '€' (E2 82 AC), not final; then an empty last frame.
        byte[] frames = [0x01, 0x80 | 11, 0, 0, 0, 0, .. "{\"ack\":1}"u8, 0xE2, 0x82, 0x80, 0x80, 0, 0, 0, 0];
        await stream.WriteAsync(frames);

        var bytes = await ReadToEndAsync(stream);
        var reason = "text message is not valid UTF-8"u8.ToArray();
        Assert.Equal([0x88, (byte)(2 + reason.Length), 0x03, 0xEF, .. reason], bytes);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    /// <summary>A WebSocket to <paramref name="queue"/> over a plain socket (frames written by hand), once the gateway consumes the queue.</summary>
    private async Task<System.Net.Sockets.TcpClient> OpenRawAsync(GatewayServer gateway, string queue)
    {
        var (client, head) = await RawWebSocket.UpgradeAsync(gateway.Port, $"/ws?id={queue}");
        Assert.StartsWith("HTTP/1.1 101", head);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        return client;
    }

    /// <summary>Everything the gateway sends, up to the end of the connection (a reset throws).</summary>
    private static Task<byte[]> ReadToEndAsync(Stream stream) => RawWebSocket.ReadToEndAsync(stream, Timeout);

    [Fact]
    public async Task GatewayStops_ClosesWithGoingAway()
    {
        var queue = broker.UniqueQueueName(nameof(GatewayStops_ClosesWithGoingAway));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        var stopping = gateway.StopAsync();
        await ws.WaitForCloseAsync(Timeout);
        await stopping;

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, ws.CloseStatus);
        Assert.Equal("gateway is shutting down", ws.CloseDescription);
    }

    [Fact]
    public async Task ClientAcks_GatewayStops_AcknowledgementsTheClientSendsBeforeItsCloseReachTheBroker()
    {
        // A page handles the messages that came before the gateway's close frame (shutdown, an expired token) and
        // acknowledges them before it reads the close. The gateway took the last acknowledgements before it sent its close,
        // so those were dropped and their messages delivered again after the restart; they now count up to the client's
        // own close (or CloseWait).
        var queue = broker.UniqueQueueName(nameof(ClientAcks_GatewayStops_AcknowledgementsTheClientSendsBeforeItsCloseReachTheBroker));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&acks=client");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");
        foreach (var body in new[] { "m1", "m2", "m3" })
        {
            await _amqp.PublishAsync(queue, body);
        }

        var messages = await ws.ReceiveMessagesAsync(3, Timeout);
        var stopping = gateway.StopAsync();
        await ws.WaitForCloseAsync(Timeout);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, ws.CloseStatus);

        // The close frame is read; the client's own close is not sent yet. Its acknowledgements go first, as a page's would.
        foreach (var message in messages)
        {
            await ws.AckAsync(message.Number);
        }

        await stopping;
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
        Assert.Equal(0u, await _amqp.MessageCountAsync(queue));
    }

    [Fact]
    public async Task QueueDeleted_ClosesWithServerError()
    {
        var queue = broker.UniqueQueueName(nameof(QueueDeleted_ClosesWithServerError));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

        await _amqp.DeleteQueueAsync(queue);
        await ws.WaitForCloseAsync(Timeout);

        Assert.Equal(WebSocketCloseStatus.InternalServerError, ws.CloseStatus);
    }

    /// <summary>Whether the broker holds <paramref name="count"/> delivered and unacknowledged messages of <paramref name="queue"/>.</summary>
    private async Task<bool> UnacknowledgedAsync(string queue, long count)
    {
        var rows = await broker.Rabbitmqctl.ListAsync("list_queues", ["name", "messages_unacknowledged"]);
        return rows.Any(row => row.GetProperty("name").GetString() == queue && row.GetProperty("messages_unacknowledged").GetInt64() == count);
    }
}
