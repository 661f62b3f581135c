using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// README "Noticing a dead connection": its EventSource watchdog, as written, on a topic page whose network goes dark
/// without a word (a proxy the test controls). The page's clock is Playwright's, so that the snippet's 45 s pass
/// when the test says.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SseWatchdogTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A page that has had no event yet when its network goes dark: its only id is the one its stream opened with,
    /// which fires no event but is every heartbeat's <c>lastEventId</c>. The watchdog reconnects with it and the page
    /// gets what was published while it was cut off. The snippet that reconnected with the last message's id only
    /// (none here) missed both events (the page saw <c>["event 3"]</c>).
    /// </summary>
    [Fact]
    public async Task ReadmeWatchdog_TopicPageWithoutAnEventYet_NetworkDropped_ReconnectsFromTheOpeningId_NothingMissed()
    {
        const string name = nameof(ReadmeWatchdog_TopicPageWithoutAnEventYet_NetworkDropped_ReconnectsFromTheOpeningId_NothingMissed);
        var topic = broker.UniqueQueueName(name);
        var stream = Eventsourced.Topics.TopicOptions.DefaultPrefix + topic;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Sse.HeartbeatEvent = "heartbeat";
        });
        await using var proxy = new DarkNetworkProxy(gateway.Port);
        await using var amqp = await broker.ConnectAsync(name);
        var page = await chromium.NewPageAsync();
        try
        {
            // The topic has had an event on this gateway (another subscriber keeps its consumer open): the page's stream
            // opens with that event's id, and no event.
            await using var keeper = await gateway.SubscribeAsync($"/topics/{topic}");
            await amqp.PublishAsync(stream, "event 0");
            await keeper.ReadEventsAsync(1, Timeout);

            await page.Clock.InstallAsync();
            // The page comes straight from the gateway: a kept-alive connection of its load through the proxy went dark
            // too, and Chromium sent the new EventSource's request there, to wait for good.
            await page.GotoAsync($"{gateway.BaseAddress}healthz");
            await page.EvaluateAsync(
                """
                (script) => {
                  const h = window.h = { events: [], ids: [], opens: 0, beats: 0, errors: [] };
                  window.show = (data) => h.events.push(data);
                  const Native = window.EventSource;
                  window.EventSource = class extends Native {
                    constructor(url, init) {
                      super(url, init);
                      this.addEventListener("open", () => h.opens++);
                      this.addEventListener("error", () => h.errors.push(this.readyState));
                      this.addEventListener("heartbeat", () => h.beats++);
                      this.addEventListener("message", (e) => h.ids.push(e.lastEventId));
                    }
                  };
                  eval(script);
                }
                """,
                ReadmeWatchdog($"http://127.0.0.1:{proxy.Port}/topics/{topic}"));
            await WaitAsync(page, "h.opens === 1 && h.beats >= 2");

            // The network goes dark: two events are published that the page never hears of.
            proxy.GoDark();
            await amqp.PublishAsync(stream, "event 1");
            await amqp.PublishAsync(stream, "event 2");
            await keeper.ReadEventsAsync(2, Timeout);
            proxy.ComeBack();
            Assert.Empty(await page.EvaluateAsync<string[]>("() => window.h.events"));

            // Three heartbeat intervals of silence: the watchdog closes the source and connects again.
            await page.Clock.FastForwardAsync("00:46");
            await WaitAsync(page, "h.opens === 2");
            await amqp.PublishAsync(stream, "event 3");
            await WaitAsync(page, "h.events.includes('event 3')");

            Assert.Equal(["event 1", "event 2", "event 3"], await page.EvaluateAsync<string[]>("() => window.h.events"));
            Assert.Equal(["1", "2", "3"], await page.EvaluateAsync<string[]>("() => window.h.ids"));
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(stream);
        }
    }

    /// <summary>The watchdog snippet of README "Noticing a dead connection", as written, reading <paramref name="topicUrl"/>.</summary>
    private static string ReadmeWatchdog(string topicUrl)
    {
        const string exampleUrl = "\"https://push.example/topics/prices\"";
        var snippet = ReadmeText.Snippet("const url = new URL(\"https://push.example/topics/prices\"); // or a queue");
        Assert.Contains("3 * 15000", snippet);
        return snippet.Replace(exampleUrl, JsonSerializer.Serialize(topicUrl));
    }

    private static async Task WaitAsync(IPage page, string condition)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const h = window.h; return {condition}; }}", null,
                new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds, PollingInterval = 50 });
        }
        catch (TimeoutException ex)
        {
            var state = await page.EvaluateAsync<string>("() => JSON.stringify(window.h)");
            throw new TimeoutException($"{condition}: {state}", ex);
        }
    }
}
