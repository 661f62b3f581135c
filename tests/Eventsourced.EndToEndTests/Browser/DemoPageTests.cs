using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary><c>examples/browser/index.html</c>, served from another origin than the gateway, in Chromium.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class DemoPageTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task DemoPage_Connected_ShowsEachMessageAsItComes()
    {
        var queue = broker.UniqueQueueName(nameof(DemoPage_Connected_ShowsEachMessageAsItComes));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.DemoUrl($"?gateway={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port))}&id={queue}&connect=1"));
            await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
            await using var amqp = await broker.ConnectAsync(nameof(DemoPage_Connected_ShowsEachMessageAsItComes));

            string[] bodies = ["first", "two\nlines", "<b>not bold</b> — Grüße 🎉"];
            for (var i = 0; i < bodies.Length; i++)
            {
                await amqp.PublishAsync(queue, bodies[i]);
                // Shown as it comes: each message is on the page before the next is published.
                await Assertions.Expect(page.Locator("#messages li")).ToHaveCountAsync(i + 1);
            }

            var shown = await page.Locator("#messages li pre").EvaluateAllAsync<string[]>("nodes => nodes.map(n => n.textContent)");
            Assert.Equal(bodies, shown);
            Assert.Equal(0, await page.Locator("#messages b").CountAsync()); // text, not markup
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// With <c>sse.event</c>, a message typed <c>error</c> reaches the page's <c>onerror</c> while the stream is open: the
    /// page must not take it for a refusal and close its EventSource (the messages after it would wait for a reconnect).
    /// </summary>
    [Fact]
    public async Task DemoPage_MessageTypedError_KeepsTheStreamOpen()
    {
        var queue = broker.UniqueQueueName(nameof(DemoPage_MessageTypedError_KeepsTheStreamOpen));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Sse.Event = true);
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        var subscribes = 0;
        page.Request += (_, request) => { if (request.Url.Contains($"id={queue}", StringComparison.Ordinal) && request.Url.StartsWith(PageServer.GatewayUrl(gateway.Port), StringComparison.Ordinal)) { Interlocked.Increment(ref subscribes); } };
        try
        {
            await page.GotoAsync(site.DemoUrl($"?gateway={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port))}&id={queue}&connect=1"));
            await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
            await using var amqp = await broker.ConnectAsync(nameof(DemoPage_MessageTypedError_KeepsTheStreamOpen));

            await amqp.PublishAsync(queue, "typed error", properties: new RabbitMQ.Client.BasicProperties { Type = "error" });
            await amqp.PublishAsync(queue, "next");

            await Assertions.Expect(page.Locator("#messages li pre")).ToHaveTextAsync(["next"]);
            await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
            Assert.Equal(1, Volatile.Read(ref subscribes)); // the one stream carried both: no close, no retry
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>EventSource gives up after a 503; the demo page retries by itself and gets the queue once it is free.</summary>
    [Fact]
    public async Task DemoPage_QueueHeldByAnotherTab_ShowsRefusalAndTakesOverOnceFree()
    {
        var queue = broker.UniqueQueueName(nameof(DemoPage_QueueHeldByAnotherTab_ShowsRefusalAndTakesOverOnceFree));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var holder = await chromium.NewPageAsync();
        try
        {
            await holder.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(holder, "h.opens === 1", Timeout);
            var demo = await holder.Context.NewPageAsync();
            await demo.GotoAsync(site.DemoUrl($"?gateway={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port))}&id={queue}&connect=1"));
            await Assertions.Expect(demo.Locator("#status")).ToHaveAttributeAsync("data-state", "refused");
            await Assertions.Expect(demo.Locator("#status")).ToContainTextAsync("retrying");

            await holder.CloseAsync();
            await using var amqp = await broker.ConnectAsync(nameof(DemoPage_QueueHeldByAnotherTab_ShowsRefusalAndTakesOverOnceFree));
            await Assertions.Expect(demo.Locator("#status")).ToHaveAttributeAsync("data-state", "open", new() { Timeout = 20_000 });
            await amqp.PublishAsync(queue, "now yours");
            await Assertions.Expect(demo.Locator("#messages li pre")).ToHaveTextAsync(["now yours"]);
        }
        finally
        {
            await holder.Context.CloseAsync();
        }
    }
}
