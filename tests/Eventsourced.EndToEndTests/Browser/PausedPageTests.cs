using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;
using RabbitMQ.Client;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// A page whose script stops running for longer than the gateway keeps a connection whose receive window stays
/// closed (twice <c>server.write_timeout</c>), while a service publishes more than the browser's buffers hold. The
/// page is paused through the DevTools debugger (<c>Debugger.pause</c>): <c>Page.setWebLifecycleState</c> frozen is
/// accepted by Debian's headless Chromium but changes nothing (timers went on firing every 200 ms).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class PausedPageTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// README's <c>acks=client</c> page (its acknowledging <c>onmessage</c>, the ping watchdog, a reconnect from
    /// <c>onclose</c>) paused for 30 s while 20 messages of 200 KB wait for it: the gateway drops the connection (its
    /// window closed for 2 x 5 s), gives back what the page had not acknowledged, and the page, once it runs again,
    /// reconnects and has every message, copies only by <c>message_id</c>. (The same pause over an EventSource lost
    /// what the browser's kernel held when the connection was dropped: see README "What the client's kernel received".)
    /// </summary>
    [Fact]
    public async Task WebSocketAcksClient_PagePausedPastTheWriteTimeout_EveryMessageArrivesAfterResume()
    {
        const string name = nameof(WebSocketAcksClient_PagePausedPastTheWriteTimeout_EveryMessageArrivesAfterResume);
        var queue = broker.UniqueQueueName(name);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 15;
            o.Server.WriteTimeoutSeconds = 5;
        });
        await using var amqp = await broker.ConnectAsync(name);
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync($"{gateway.BaseAddress}healthz");
            var watchdog = ReadmeText.Snippet("function watchdog(ws, reconnect) {");
            var onmessage = ReadmeText.Snippet("ws.onmessage = (e) => {\n  const m = JSON.parse(e.data);\n  if (\"data\" in m)", "\n};");
            Assert.Contains("ws.send(JSON.stringify({ ack: m.id }))", onmessage);
            await page.EvaluateAsync(
                $$"""
                (url) => {
                  const h = window.h = { seen: [], opens: 0, closes: [] };
                  const handle = (m) => h.seen.push(m.message_id);
                  {{watchdog}}
                  let ws;
                  function connect() {
                    ws = new WebSocket(url);
                    watchdog(ws, connect);
                    ws.onopen = () => h.opens++;
                    ws.onclose = (e) => { h.closes.push(e.code); setTimeout(connect, 1000); };
                    {{onmessage}}
                    };
                  }
                  connect();
                }
                """,
                $"ws://127.0.0.1:{gateway.Port}/ws?id={queue}&acks=client");
            await WaitAsync(page, "h.opens === 1");
            await amqp.PublishAsync(queue, "before", properties: new BasicProperties { MessageId = "before" });
            await WaitAsync(page, "h.seen.length === 1");

            var cdp = await page.Context.NewCDPSessionAsync(page);
            await cdp.SendAsync("Debugger.enable");
            await cdp.SendAsync("Debugger.pause");
            var body = new string('x', 200_000);
            var sent = Enumerable.Range(0, 20).Select(i => $"m{i}").ToList();
            foreach (var id in sent)
            {
                await amqp.PublishAsync(queue, $"{id}\n{body}", properties: new BasicProperties { MessageId = id });
            }
            // The gateway lets go of the queue once the page's window has stayed closed for 2 x write_timeout.
            await amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(40), "the gateway drops the paused page's connection");
            await Task.Delay(TimeSpan.FromSeconds(5));
            await cdp.SendAsync("Debugger.resume");
            await cdp.SendAsync("Debugger.disable");

            await amqp.PublishAsync(queue, "after", properties: new BasicProperties { MessageId = "after" });
            await WaitAsync(page, "h.seen.includes('after')");
            await Task.Delay(TimeSpan.FromSeconds(1));
            var seen = await page.EvaluateAsync<string[]>("() => window.h.seen");
            List<string> expected = ["before", .. sent, "after"];
            Assert.Equal(expected.Order(StringComparer.Ordinal), seen.Distinct().Order(StringComparer.Ordinal));
            Assert.True(await page.EvaluateAsync<int>("() => window.h.opens") >= 2, "the page reconnected by itself");
            Assert.Equal(0u, await amqp.MessageCountAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    private static async Task WaitAsync(IPage page, string condition)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const h = window.h; return {condition}; }}", null,
                new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds, PollingInterval = 100 });
        }
        catch (TimeoutException ex)
        {
            var state = await page.EvaluateAsync<string>("() => JSON.stringify({ opens: window.h.opens, closes: window.h.closes, seen: [...new Set(window.h.seen)] })");
            throw new TimeoutException($"{condition}: {state}", ex);
        }
    }
}
