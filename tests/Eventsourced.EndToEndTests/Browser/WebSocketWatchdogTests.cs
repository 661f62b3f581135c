using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// README "Keepalive and ends": its watchdog, as written, on a page whose network goes dark without a word (a proxy
/// the test controls). The page's clock is Playwright's, so that the snippet's 20 s interval passes when the test says.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class WebSocketWatchdogTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private const int Batch = 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadmeWatchdog_NoticesASocketTheNetworkDropped_ReconnectsAndGetsEveryMessage()
    {
        var queue = broker.UniqueQueueName(nameof(ReadmeWatchdog_NoticesASocketTheNetworkDropped_ReconnectsAndGetsEveryMessage));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Server.WriteTimeoutSeconds = 2;
        });
        await using var proxy = new DarkNetworkProxy(gateway.Port);
        await using var amqp = await broker.ConnectAsync(nameof(ReadmeWatchdog_NoticesASocketTheNetworkDropped_ReconnectsAndGetsEveryMessage));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.Clock.InstallAsync();
            await page.GotoAsync($"{gateway.BaseAddress}healthz");
            // The README's acknowledging onmessage and its watchdog, in a page that reconnects from onclose as it suggests.
            await page.EvaluateAsync(
                """
                ([url, watchdogText]) => {
                  const watchdog = eval("(" + watchdogText + ")");
                  window.ws = { opens: 0, closes: 0, pongs: 0, data: [] };
                  const connect = () => {
                    const ws = new WebSocket(url);
                    ws.onopen = () => window.ws.opens++;
                    ws.onmessage = (e) => {
                      const m = JSON.parse(e.data);
                      if ("data" in m) { window.ws.data.push(m.data); ws.send(JSON.stringify({ ack: m.id })); }
                      if ("pong" in m) window.ws.pongs++;
                    };
                    ws.onclose = () => { window.ws.closes++; setTimeout(connect, 1000); };
                    watchdog(ws, connect);
                  };
                  connect();
                }
                """,
                new[] { $"ws://127.0.0.1:{proxy.Port}/ws?id={queue}&acks=client", ReadmeWatchdog() });
            await WaitUntilAsync(page, "w.opens === 1");
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the page's queue");

            await PublishAsync(amqp, queue, 0);
            await WaitUntilAsync(page, $"w.data.length === {Batch}");

            // The network goes dark: what the gateway sends now goes nowhere, and the page hears nothing of it.
            proxy.GoDark();
            await PublishAsync(amqp, queue, Batch);
            await amqp.UntilConsumersAsync(queue, 0, Timeout, "the gateway drops the client that answers no ping");
            proxy.ComeBack();
            await PublishAsync(amqp, queue, 2 * Batch);
            Assert.Equal(Batch, await page.EvaluateAsync<int>("() => window.ws.data.length"));
            Assert.Equal(0, await page.EvaluateAsync<int>("() => window.ws.closes"));

            // The watchdog's first ping goes into the dark; at its next turn it sees no pong and reconnects.
            await page.Clock.FastForwardAsync("00:20");
            await page.Clock.FastForwardAsync("00:20");
            await WaitUntilAsync(page, $"new Set(w.data).size === {3 * Batch}");
            Assert.Equal(0, await page.EvaluateAsync<int>("() => window.ws.pongs"));
            Assert.Equal(2, await page.EvaluateAsync<int>("() => window.ws.opens"));
            Assert.Equal(2, proxy.Connections);
            var seen = await page.EvaluateAsync<string[]>("() => window.ws.data");
            Assert.Equal(Enumerable.Range(0, 3 * Batch).Select(i => $"m{i}").ToHashSet(), seen.ToHashSet());

            // The new socket answers its pings: the watchdog leaves it open.
            for (var pong = 1; pong <= 3; pong++)
            {
                await page.Clock.FastForwardAsync("00:20");
                await WaitUntilAsync(page, $"w.pongs === {pong}");
            }

            Assert.Equal(2, await page.EvaluateAsync<int>("() => window.ws.opens"));
            Assert.Equal(1u, await amqp.ConsumerCountAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(queue);
        }
    }

    [Fact]
    public async Task ReadmeWatchdog_InAPageKeepingItsSocketInOneVariable_LeavesTheNextSocketOpen()
    {
        // A page that keeps its socket in one variable and reconnects from onclose after the gateway ended the connection
        // (1011 here: the queue was deleted). The old socket's watchdog must not take the new socket for its own.
        var queue = broker.UniqueQueueName(nameof(ReadmeWatchdog_InAPageKeepingItsSocketInOneVariable_LeavesTheNextSocketOpen));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(ReadmeWatchdog_InAPageKeepingItsSocketInOneVariable_LeavesTheNextSocketOpen));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.Clock.InstallAsync();
            await page.GotoAsync($"{gateway.BaseAddress}healthz");
            await page.EvaluateAsync(
                """
                ([url, watchdogText]) => {
                  const watchdog = eval("(" + watchdogText + ")");
                  window.ws = { opens: 0, closes: [], pongs: 0 };
                  let ws;
                  const connect = () => {
                    ws = new WebSocket(url);
                    ws.onopen = () => window.ws.opens++;
                    ws.onmessage = (e) => { if ("pong" in JSON.parse(e.data)) window.ws.pongs++; };
                    ws.onclose = (e) => { window.ws.closes.push(e.code); setTimeout(connect, 1000); };
                    watchdog(ws, connect);
                  };
                  connect();
                }
                """,
                new[] { $"ws://127.0.0.1:{gateway.Port}/ws?id={queue}", ReadmeWatchdog() });
            await WaitUntilAsync(page, "w.opens === 1");
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the page's queue");
            await page.Clock.FastForwardAsync("00:20");
            await WaitUntilAsync(page, "w.pongs === 1");

            await amqp.DeleteQueueAsync(queue);
            await WaitUntilAsync(page, "w.closes.length === 1");
            await page.Clock.FastForwardAsync("00:01");
            await WaitUntilAsync(page, "w.opens === 2");
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the new socket consumes the queue again");

            // Every ping on the new socket is answered: the watchdog has no reason to close it.
            for (var turn = 0; turn < 3; turn++)
            {
                var pongs = await page.EvaluateAsync<int>("() => window.ws.pongs");
                await page.Clock.FastForwardAsync("00:20");
                await WaitUntilAsync(page, $"w.pongs > {pongs} || w.opens > 2");
            }

            Assert.Equal(2, await page.EvaluateAsync<int>("() => window.ws.opens"));
            Assert.Equal(1u, await amqp.ConsumerCountAsync(queue));
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(queue);
        }
    }

    /// <summary>The watchdog function of README "Keepalive and ends", as written.</summary>
    private static string ReadmeWatchdog() => ReadmeText.Snippet("function watchdog(ws, reconnect) {");

    private static async Task PublishAsync(AmqpTestClient amqp, string queue, int first)
    {
        for (var i = first; i < first + Batch; i++)
        {
            await amqp.PublishAsync(queue, $"m{i}");
        }
    }

    private static Task WaitUntilAsync(IPage page, string condition) => PageState.WaitUntilAsync(page, "ws", "w", condition, Timeout);
}
