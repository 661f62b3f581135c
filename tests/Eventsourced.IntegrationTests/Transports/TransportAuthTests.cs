using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Transports;

/// <summary>Signed tokens on the WebSocket and long-poll endpoints: the same 401 and 403 as SSE, before any upgrade; publishing only where the token says.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class TransportAuthTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(TransportAuthTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task WebSocket_TokenRules_AsTheStream_BeforeTheUpgrade()
    {
        var queue = broker.UniqueQueueName(nameof(WebSocket_TokenRules_AsTheStream_BeforeTheUpgrade));
        await using var gateway = await StartAsync();

        await using (var none = await gateway.ConnectWebSocketAsync($"/ws?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.Status);
            Assert.Contains("Bearer error=\"invalid_token\"", none.Headers["WWW-Authenticate"].Single(), StringComparison.Ordinal);
        }

        var others = TestTokens.Hs256(TestTokens.Claims("u1", "someone-else"));
        await using (var forbidden = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={others}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.Status);
            Assert.Equal($"token does not permit reading queue '{queue}': its claim 'queues' does not list it", forbidden.Reason);
        }

        Assert.False(await _amqp.QueueExistsAsync(queue));
        var own = TestTokens.Hs256(TestTokens.Claims("u1", queue));
        await using var bearer = await gateway.ConnectWebSocketAsync($"/ws?id={queue}", o => o.SetRequestHeader("Authorization", $"Bearer {own}"));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, bearer.Status);
    }

    [Fact]
    public async Task TimeAsAString_IsRefusedOnEveryTransport()
    {
        // RFC 7519: a NumericDate is a JSON number; "exp": "..." (a string) was accepted on every transport.
        var queue = broker.UniqueQueueName(nameof(TimeAsAString_IsRefusedOnEveryTransport));
        await using var gateway = await StartAsync();
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        var token = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(
            $$"""{"sub":"u1","queues":["{{queue}}"],"exp":"{{exp}}"}""",
            new Microsoft.IdentityModel.Tokens.SigningCredentials(new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(System.Text.Encoding.UTF8.GetBytes(TestTokens.Secret)), Microsoft.IdentityModel.Tokens.SecurityAlgorithms.HmacSha256));
        const string Reason = "token's exp is not a number (a NumericDate, RFC 7519)";

        foreach (var path in new[] { "/", "/poll" })
        {
            using var response = await gateway.Client.GetAsync($"{path}?id={queue}&access_token={token}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal((HttpStatusCode.Unauthorized, Reason), (response.StatusCode, response.Headers.GetValues("X-Status-Reason").Single()));
        }

        await using (var socket = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={token}"))
        {
            Assert.Equal((HttpStatusCode.Unauthorized, Reason), (socket.Status, socket.Reason));
        }

        Assert.False(await _amqp.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task WebSocket_Publish_OnlyWhereTheTokenSays_WithTheSenderInTheRoutingKey()
    {
        var queue = broker.UniqueQueueName(nameof(WebSocket_Publish_OnlyWhereTheTokenSays_WithTheSenderInTheRoutingKey));
        var (exchange, sink) = await PublishSinkAsync();
        await using var gateway = await StartPublishingAsync(exchange);
        var claims = TestTokens.Claims("u1", queue);
        claims["publish"] = new[] { "lobby", "team-*" };
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={TestTokens.Hs256(claims)}");

        await ws.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"hi\"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"team-7\", \"data\": \"team\"}}");
        await ws.SendAsync("{\"publish\": {\"to\": \"admins\", \"data\": \"sneaky\"}}");
        var answers = await ws.ReceiveAnswersAsync(3, Timeout);

        Assert.Equal("{\"published\":1}", answers[0].GetRawText());
        Assert.Equal("{\"published\":2}", answers[1].GetRawText());
        Assert.Equal("token does not permit publishing to 'admins': its claim 'publish' does not list it", answers[2].GetProperty("error").GetString());
        var received = await _amqp.ReceiveAsync(sink, 2, Timeout);
        Assert.Equal(["hi", "team"], received.Select(m => m.Text));
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task WebSocket_Publish_ASubContainingTheSeparator_PublishesNothing_SoNoTokenPublishesAsAnother()
    {
        // Before: sub lobby.u1 naming x published as chat.x.lobby.u1, the routing key of sub u1 naming x.lobby.
        var queue = broker.UniqueQueueName(nameof(WebSocket_Publish_ASubContainingTheSeparator_PublishesNothing_SoNoTokenPublishesAsAnother));
        var (exchange, sink) = await PublishSinkAsync();
        await using var gateway = await StartPublishingAsync(exchange);
        var claims = TestTokens.Claims("lobby.u1", queue);
        claims["publish"] = new[] { "x" };
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={TestTokens.Hs256(claims)}");

        await ws.SendAsync("{\"publish\": {\"to\": \"x\", \"data\": \"forged\"}}");
        var answers = await ws.ReceiveAnswersAsync(1, Timeout);

        Assert.Equal(
            "token claim 'sub' must not contain '.': the pattern separates a token's claim with it, and two tokens could build the same routing key",
            answers[0].GetProperty("error").GetString());
        Assert.Equal(0u, await _amqp.MessageCountAsync(sink));
    }

    [Fact]
    public async Task WebSocket_PublishRate_IsPerSender_OverAllItsConnections()
    {
        // Before: per connection, so one token opening more WebSockets published publish_burst more on each of them.
        var (exchange, sink) = await PublishSinkAsync();
        await using var gateway = await StartAsync(o =>
        {
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRoutingKey = "chat.${to}.${claim:sub}";
            o.Ws.PublishRate = 1;
            o.Ws.PublishBurst = 2;
        });
        async Task<WebSocketClient> ConnectAsync(string sub, string suffix)
        {
            var queue = broker.UniqueQueueName(nameof(WebSocket_PublishRate_IsPerSender_OverAllItsConnections) + suffix);
            var claims = TestTokens.Claims(sub, queue);
            claims["publish"] = new[] { "lobby" };
            return await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={TestTokens.Hs256(claims)}");
        }

        await using var first = await ConnectAsync("u1", "-a");
        await using var second = await ConnectAsync("u1", "-b");
        await using var other = await ConnectAsync("u2", "-c");

        await first.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"1\"}}");
        await first.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"2\"}}");
        Assert.Equal(["{\"published\":1}", "{\"published\":2}"], (await first.ReceiveAnswersAsync(2, Timeout)).Select(a => a.GetRawText()));
        await second.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"3\"}}");
        Assert.Equal("rate limit exceeded (ws.publish_rate: 1 per second)", Assert.Single(await second.ReceiveAnswersAsync(1, Timeout)).GetProperty("error").GetString());

        // Another sender from the same address has a budget of its own.
        await other.SendAsync("{\"publish\": {\"to\": \"lobby\", \"data\": \"4\"}}");
        Assert.Equal("{\"published\":1}", Assert.Single(await other.ReceiveAnswersAsync(1, Timeout)).GetRawText());
        Assert.Equal(["1", "2", "4"], (await _amqp.ReceiveAsync(sink, 3, Timeout)).Select(m => m.Text));
    }

    [Fact]
    public async Task WebSocket_TokenExpires_ClosesWithPolicyViolationSayingSo()
    {
        var queue = broker.UniqueQueueName(nameof(WebSocket_TokenExpires_ClosesWithPolicyViolationSayingSo));
        await using var gateway = await StartAsync(o => o.Auth.Jwt.ClockSkewSeconds = 0);
        var token = TestTokens.Hs256(TestTokens.Claims("u1", queue), lifetime: TimeSpan.FromSeconds(3));
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={token}");
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");

        await ws.WaitForCloseAsync(Timeout);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, ws.CloseStatus);
        Assert.Equal("token expired", ws.CloseDescription);
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the consumer is gone");
    }

    [Fact]
    public async Task WebSocket_TokenExpiresWhilePublishing_EveryPublishTheBrokerTookIsAnsweredBeforeTheClose()
    {
        // A client keeps publishes under way until its token expires: the gateway closes (1008), and every message that
        // reached the broker was answered "published" first; nothing published without an answer, nothing answered twice.
        var queue = broker.UniqueQueueName(nameof(WebSocket_TokenExpiresWhilePublishing_EveryPublishTheBrokerTookIsAnsweredBeforeTheClose));
        var exchange = broker.UniqueQueueName("expiry-exchange");
        var sink = broker.UniqueQueueName("expiry-sink");
        await using (var channel = await _amqp.Connection.CreateChannelAsync())
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: false, autoDelete: true);
            await channel.QueueDeclareAsync(sink, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-expires"] = 600_000 });
            await channel.QueueBindAsync(sink, exchange, "chat.#");
        }

        await using var gateway = await StartAsync(o =>
        {
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = exchange;
            o.Ws.PublishRoutingKey = "chat.${to}";
            o.Ws.PublishRate = 100_000;
            o.Ws.PublishBurst = 100_000;
        });
        var claims = TestTokens.Claims("u1", queue);
        claims["publish"] = new[] { "lobby" };
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={TestTokens.Hs256(claims, lifetime: TimeSpan.FromSeconds(3))}");
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");

        var sent = 0;
        while (!ws.Ended && sent < 100_000)
        {
            try
            {
                await ws.SendAsync($"{{\"publish\": {{\"to\": \"lobby\", \"data\": \"m{sent + 1}\"}}, \"ref\": {sent + 1}}}");
            }
            catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException)
            {
                break; // the close has come
            }

            sent++;
            var answered = sent - 4; // four under way at most
            await ws.ReceiveUntilAsync(() => ws.Answers.Count >= answered, Timeout);
        }

        await ws.WaitForCloseAsync(Timeout);
        Assert.Equal((WebSocketCloseStatus.PolicyViolation, "token expired"), (ws.CloseStatus, ws.CloseDescription));
        var refs = ws.Answers.Select(a => a.GetProperty("published").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, refs.Count), refs);
        uint? stored = null;
        for (var last = uint.MaxValue; stored != last; await Task.Delay(300))
        {
            last = stored ?? uint.MaxValue;
            stored = await _amqp.MessageCountAsync(sink);
        }

        Assert.Equal(stored, (uint)refs.Count);
        Assert.True(refs.Count > 10, $"only {refs.Count} publishes answered");
    }

    [Fact]
    public async Task Poll_TokenRules_AsTheStream_AndA401WhenTheTokenExpiresDuringTheWait()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_TokenRules_AsTheStream_AndA401WhenTheTokenExpiresDuringTheWait));
        await using var gateway = await StartAsync(o =>
        {
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Poll.WaitSeconds = 30;
        });

        using (var none = await gateway.Client.GetAsync($"/poll?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }

        using (var forbidden = await gateway.Client.GetAsync($"/poll?id={queue}&access_token={TestTokens.Hs256(TestTokens.Claims("u1", "other"))}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        var token = TestTokens.Hs256(TestTokens.Claims("u1", queue), lifetime: TimeSpan.FromSeconds(3));
        var started = Stopwatch.StartNew();
        using var expiring = await gateway.Client.GetAsync($"/poll?id={queue}&access_token={token}");

        Assert.Equal(HttpStatusCode.Unauthorized, expiring.StatusCode);
        Assert.Equal("token expired", expiring.Headers.GetValues("X-Status-Reason").Single());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(25), $"answered after {started.Elapsed}: the wait was not cut short");
    }

    /// <summary>README "Renewing a token": the poll after the expiry, with a new token, acknowledges the last answer.</summary>
    [Fact]
    public async Task Poll_TokenExpiresBetweenPolls_ThePollWithANewToken_AcknowledgesTheLastAnswer_AndGetsTheRest()
    {
        var queue = broker.UniqueQueueName(nameof(Poll_TokenExpiresBetweenPolls_ThePollWithANewToken_AcknowledgesTheLastAnswer_AndGetsTheRest));
        await using var gateway = await StartAsync(o =>
        {
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Poll.WaitSeconds = 1;
        });
        var expiring = TestTokens.Hs256(TestTokens.Claims("u1", queue), lifetime: TimeSpan.FromSeconds(3));
        Assert.Equal("[]", await gateway.Client.GetStringAsync($"/poll?id={queue}&access_token={expiring}"));
        foreach (var body in new[] { "m1", "m2", "m3" })
        {
            await _amqp.PublishAsync(queue, body);
        }

        using var first = System.Text.Json.JsonDocument.Parse(await gateway.Client.GetStringAsync($"/poll?id={queue}&max=2&access_token={expiring}"));
        Assert.Equal(["m1", "m2"], first.RootElement.EnumerateArray().Select(m => m.GetProperty("data").GetString()));
        var last = first.RootElement[1].GetProperty("id").GetString();

        await Task.Delay(TimeSpan.FromSeconds(3)); // past the token's expiry
        using (var refused = await gateway.Client.GetAsync($"/poll?id={queue}&ack={last}&access_token={expiring}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("token expired", refused.Headers.GetValues("X-Status-Reason").Single());
        }

        var renewed = TestTokens.Hs256(TestTokens.Claims("u1", queue));
        using var next = System.Text.Json.JsonDocument.Parse(await gateway.Client.GetStringAsync($"/poll?id={queue}&ack={last}&access_token={renewed}"));
        Assert.Equal(["m3"], next.RootElement.EnumerateArray().Select(m => m.GetProperty("data").GetString()));
    }

    /// <summary>A topic exchange, and a queue taking everything published to it under <c>chat.</c>.</summary>
    private async Task<(string Exchange, string Sink)> PublishSinkAsync()
    {
        var exchange = broker.UniqueQueueName("publish-exchange");
        var sink = broker.UniqueQueueName("publish-sink");
        await using var channel = await _amqp.Connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: false, autoDelete: true);
        await channel.QueueDeclareAsync(sink, durable: false, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-expires"] = 600_000 });
        await channel.QueueBindAsync(sink, exchange, "chat.#");
        return (exchange, sink);
    }

    /// <summary>A gateway whose WebSocket clients publish to <paramref name="exchange"/> with the routing key <c>chat.${to}.${claim:sub}</c>.</summary>
    private Task<GatewayServer> StartPublishingAsync(string exchange) => StartAsync(o =>
    {
        o.Ws.Publish = true;
        o.Ws.PublishExchange = exchange;
        o.Ws.PublishRoutingKey = "chat.${to}.${claim:sub}";
    });

    private Task<GatewayServer> StartAsync(Action<Eventsourced.Configuration.GatewayOptions>? configure = null) =>
        GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            configure?.Invoke(o);
        });
}
