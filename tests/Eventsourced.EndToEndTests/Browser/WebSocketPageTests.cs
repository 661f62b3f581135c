using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>The WebSocket endpoint from a page of another origin, in Chromium: frames, acknowledgements, the origin check.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class WebSocketPageTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task AllowedOrigin_ReceivesEveryMessage_AndItsAcknowledgementsReachTheBroker()
    {
        var queue = broker.UniqueQueueName(nameof(AllowedOrigin_ReceivesEveryMessage_AndItsAcknowledgementsReachTheBroker));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Header.Cors["Access-Control-Allow-Origin"] = site.Origin);
        await using var amqp = await broker.ConnectAsync(nameof(AllowedOrigin_ReceivesEveryMessage_AndItsAcknowledgementsReachTheBroker));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.PageUrl("websocket.html", $"?ack=1&src={Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{gateway.Port}/ws?id={queue}&acks=client")}"));
            await WaitUntilAsync(page, "w.opens === 1");
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the queue");

            string[] bodies = ["first", "Grüße 東京 🎉 \"quoted\"\nsecond line", "{\"json\": true}"];
            foreach (var body in bodies)
            {
                await amqp.PublishAsync(queue, body);
            }

            await amqp.PublishAsync(queue, new byte[] { 0xfe, 0xff });
            await WaitUntilAsync(page, "w.messages.length === 4");
            var messages = await ReadAsync(page, "messages");
            Assert.Equal(bodies, messages.Take(3).Select(m => m.GetProperty("data").GetString()));
            Assert.True(messages[3].GetProperty("base64").GetBoolean());
            Assert.Equal("/v8=", messages[3].GetProperty("data").GetString());

            // The page acknowledged each one: nothing stays unacknowledged, nothing comes back after it leaves.
            await page.Context.CloseAsync();
            await amqp.UntilConsumersAsync(queue, 0, Timeout, "the page's consumer is gone");
            Assert.Equal(0u, await amqp.MessageCountAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task UnlistedOrigin_IsRefusedBeforeTheUpgrade_AndNothingIsConsumed()
    {
        var queue = broker.UniqueQueueName(nameof(UnlistedOrigin_IsRefusedBeforeTheUpgrade_AndNothingIsConsumed));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Header.Cors["Access-Control-Allow-Origin"] = "https://elsewhere.example");
        await using var amqp = await broker.ConnectAsync(nameof(UnlistedOrigin_IsRefusedBeforeTheUpgrade_AndNothingIsConsumed));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.PageUrl("websocket.html", $"?src={Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{gateway.Port}/ws?id={queue}")}"));
            await WaitUntilAsync(page, "w.closes.length === 1");

            var close = (await ReadAsync(page, "closes"))[0];
            Assert.Equal(1006, close.GetProperty("code").GetInt32());
            Assert.Equal(0, await page.EvaluateAsync<int>("() => window.ws.opens"));
            Assert.False(await amqp.QueueExistsAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task CloseRefusals_ThePageReadsWhyItWasRefused_InTheCloseEvent()
    {
        // Refused before the upgrade (the default) the page sees 1006 and no reason (above); with ws.close_refusals the
        // gateway accepts and closes with 4000 + the status and the reason, which the page's close event carries.
        var queue = broker.UniqueQueueName(nameof(CloseRefusals_ThePageReadsWhyItWasRefused_InTheCloseEvent));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Header.Cors["Access-Control-Allow-Origin"] = site.Origin;
            o.Ws.CloseRefusals = true;
            o.Auth.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
        });
        await using var amqp = await broker.ConnectAsync(nameof(CloseRefusals_ThePageReadsWhyItWasRefused_InTheCloseEvent));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.PageUrl("websocket.html", $"?src={Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{gateway.Port}/ws?id={queue}")}"));
            await WaitUntilAsync(page, "w.closes.length === 1");

            var close = (await ReadAsync(page, "closes"))[0];
            Assert.Equal(4401, close.GetProperty("code").GetInt32());
            Assert.StartsWith("no token (send it as ", close.GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.Equal(0, await page.EvaluateAsync<int>("() => window.ws.errors"));
            Assert.False(await amqp.QueueExistsAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task CloseRefusals_TheReadmesCloseHandler_RenewsTheTokenWhenItExpires()
    {
        // README "Refusals a page can read": its onclose, as written, on a socket whose token expires. The text around it
        // says to reconnect after 1008 "token expired" with a new token; the handler sent that close to the backoff, to
        // reconnect with the expired token into a 4401 first.
        var handler = ReadmeText.Snippet("socket.onclose = (e) => {");
        var queue = broker.UniqueQueueName(nameof(CloseRefusals_TheReadmesCloseHandler_RenewsTheTokenWhenItExpires));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.CloseRefusals = true;
            o.Auth.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
        });
        await using var amqp = await broker.ConnectAsync(nameof(CloseRefusals_TheReadmesCloseHandler_RenewsTheTokenWhenItExpires));
        var token = Eventsourced.Testing.Tokens.TestTokens.Hs256(
            new Dictionary<string, object> { ["sub"] = "42", ["queues"] = new[] { queue } }, TimeSpan.FromSeconds(8));
        var page = await chromium.NewPageAsync();
        try
        {
            await OpenWithReadmeHandlerAsync(page, $"ws://{PageServer.GatewayHost}:{gateway.Port}/ws?id={queue}&access_token={token}", handler);
            await WaitUntilAsync(page, "w.calls.length === 1");
            var close = (await ReadAsync(page, "closes"))[0];
            Assert.Equal((1008, "token expired"), (close.GetProperty("code").GetInt32(), close.GetProperty("reason").GetString()));
            Assert.Equal("renew", (await ReadAsync(page, "calls"))[0].GetString());
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(queue);
        }
    }

    [Fact]
    public async Task CloseRefusals_TheReadmesCloseHandler_DoesNotRetryATopicThatMayNotBeCreated()
    {
        // A topic topics.create does not allow (4404) is as final as a 404 to the README's long-poll loop, which stops; the
        // handler sent it to the backoff, to be refused again every 30 s for as long as the page stayed open.
        var handler = ReadmeText.Snippet("socket.onclose = (e) => {");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Ws.CloseRefusals = true;
            o.Topics.Create = [];
        });
        var page = await chromium.NewPageAsync();
        try
        {
            await OpenWithReadmeHandlerAsync(page, $"ws://{PageServer.GatewayHost}:{gateway.Port}/ws/topics/{broker.UniqueQueueName("never-created")}", handler);
            await WaitUntilAsync(page, "w.calls.length === 1");
            Assert.Equal(4404, (await ReadAsync(page, "closes"))[0].GetProperty("code").GetInt32());
            Assert.StartsWith("error: ", (await ReadAsync(page, "calls"))[0].GetString(), StringComparison.Ordinal);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// Opens a WebSocket to <paramref name="url"/> whose close the README's handler (<paramref name="handler"/>, as written)
    /// takes; what it calls and every close are recorded in <c>window.ws</c>.
    /// </summary>
    private static Task OpenWithReadmeHandlerAsync(IPage page, string url, string handler) => page.EvaluateAsync(
        """
        ([url, handler]) => {
          window.ws = { calls: [], closes: [] };
          const renewTokenThenReconnect = () => window.ws.calls.push("renew");
          const showError = (reason) => window.ws.calls.push("error: " + reason);
          const reconnectWithBackoff = () => window.ws.calls.push("backoff");
          const socket = new WebSocket(url);
          socket.addEventListener("close", (e) => window.ws.closes.push({ code: e.code, reason: e.reason }));
          eval(handler);
        }
        """,
        new[] { url, handler });

    private static async Task WaitUntilAsync(IPage page, string condition)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const w = window.ws; return {condition}; }}", null,
                new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds, PollingInterval = 50 });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"the page did not reach `{condition}`; it saw: {await page.EvaluateAsync<string>("() => JSON.stringify(window.ws)")}", ex);
        }
    }

    private static async Task<IReadOnlyList<JsonElement>> ReadAsync(IPage page, string property)
    {
        var json = await page.EvaluateAsync<string>($"() => JSON.stringify(window.ws.{property})");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }
}
