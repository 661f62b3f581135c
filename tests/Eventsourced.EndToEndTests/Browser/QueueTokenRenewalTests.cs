using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;
using RabbitMQ.Client;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// A queue read from a page with tokens that expire every 2 s while messages are published across the renewals, each
/// page renewing as the README says: a WebSocket with <c>acks=client</c> that connects again with a new token on
/// <c>4401</c> or <c>1008 token expired</c> ("Refusals a page can read"), and an EventSource that subscribes again with a
/// new token once it is refused (the recipe under "Security", <c>renew.html</c>). Nothing lost, nothing left in the queue;
/// the EventSource gets every message once, in order.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class QueueTokenRenewalTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(40);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Queue_AcksClient_TokensRenewedOnClose_EveryMessageOnce(bool closeRefusals)
    {
        const int Count = 80;
        var queue = broker.UniqueQueueName(nameof(Queue_AcksClient_TokensRenewedOnClose_EveryMessageOnce));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Auth.ReadClaims["queue"] = string.Empty;
            o.Ws.CloseRefusals = closeRefusals;
        });
        await using var amqp = await broker.ConnectAsync(nameof(Queue_AcksClient_TokensRenewedOnClose_EveryMessageOnce));
        var src = $"ws://{PageServer.GatewayHost}:{gateway.Port}/ws?id={queue}&acks=client";
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.PageUrl("wsrenew.html", $"?src={Uri.EscapeDataString(src)}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 2))}"));
            await page.WaitForFunctionAsync("() => window.ws.opens >= 1", null, new PageWaitForFunctionOptions { Timeout = 20_000 });
            // With close_refusals an expired token is also an open (then 4401), before anything declared the queue: the
            // first publish must wait for the page's consumer, or it has no route.
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the page's WebSocket consumes the queue");
            for (var i = 0; i < Count; i++)
            {
                await amqp.PublishAsync(queue, $"m{i}", properties: new BasicProperties { MessageId = $"m{i}" });
                await Task.Delay(100);
            }

            await page.WaitForFunctionAsync($"() => window.ws.messages.some(m => m.data === 'm{Count - 1}')", null,
                new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds, PollingInterval = 50 });
            await Task.Delay(1000);
            var json = await page.EvaluateAsync<string>("() => JSON.stringify({ data: window.ws.messages.map(m => m.data), closes: window.ws.closes, tokens: window.ws.tokens, answers: window.ws.answers })");
            using var document = JsonDocument.Parse(json);
            var data = document.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()!).ToList();
            // An acknowledgement under way when the gateway closes for the expiry acknowledges nothing: that message comes
            // again on the next connection, with the same message_id, by which the README has pages drop the copy.
            Assert.True(data.ToHashSet().SetEquals(Enumerable.Range(0, Count).Select(i => $"m{i}")), json);
            Assert.True(document.RootElement.GetProperty("tokens").GetInt32() >= 3, json);
            Assert.Equal(0u, await amqp.MessageCountAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Queue_EventSourceRecipe_TokensExpire_EveryMessageOnce()
    {
        const int Count = 80;
        var queue = broker.UniqueQueueName(nameof(Queue_EventSourceRecipe_TokensExpire_EveryMessageOnce));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Auth.ReadClaims["queue"] = string.Empty;
        });
        await using var amqp = await broker.ConnectAsync(nameof(Queue_EventSourceRecipe_TokensExpire_EveryMessageOnce));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.PageUrl("renew.html", $"?src={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}"))}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 2))}"));
            await Harness.WaitUntilAsync(page, "h.opens >= 1", Timeout);
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the page's EventSource consumes the queue");
            for (var i = 0; i < Count; i++)
            {
                await amqp.PublishAsync(queue, $"m{i}");
                await Task.Delay(100);
            }

            await Harness.WaitUntilAsync(page, $"h.events.includes('m{Count - 1}')", Timeout);
            await Task.Delay(1000);
            var seen = await Harness.ReadAsync(page);
            Assert.True(seen.Events.SequenceEqual(Enumerable.Range(0, Count).Select(i => $"m{i}")), seen.ToString());
            Assert.Equal(0u, await amqp.MessageCountAsync(queue));
            Assert.True(await page.EvaluateAsync<int>("() => window.harness.tokens") >= 3, seen.ToString());
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
