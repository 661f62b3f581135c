using System.Diagnostics;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>The gateway process restarted (SIGTERM, start again on the same port) under an open page.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class GatewayRestartTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task GatewayRestart_UnderOpenPage_EventSourceReconnectsAndGetsEverythingOnce()
    {
        var queue = broker.UniqueQueueName(nameof(GatewayRestart_UnderOpenPage_EventSourceReconnectsAndGetsEverythingOnce));
        var port = FreePort.Next();
        var environment = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
        };
        using var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(GatewayRestart_UnderOpenPage_EventSourceReconnectsAndGetsEverythingOnce));
        var page = await chromium.NewPageAsync();
        var gateway = GatewayProcess.Start(environment);
        var running = true;
        try
        {
            await Wait.UntilAsync(() => gateway.IsListeningAsync(probe), Timeout, $"the gateway listens on port {port}");
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            string[] before = ["before 1", "before 2", "before 3", "before 4", "before 5"];
            foreach (var body in before)
            {
                await amqp.PublishAsync(queue, body);
            }

            await Harness.WaitUntilAsync(page, "h.events.length === 5", Timeout);
            // Delivered and acknowledged: nothing of it is left in the queue to come again.
            await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages == 0, Timeout,
                "the gateway acknowledged what the page got");

            gateway.Signal("TERM");
            Assert.Equal(0, await gateway.WaitForExitAsync(Timeout));
            await gateway.DisposeAsync();
            running = false;
            string[] whileDown = ["while down 1", "while down 2", "while down 3", "while down 4", "while down 5"];
            foreach (var body in whileDown)
            {
                await amqp.PublishAsync(queue, body);
            }

            // The stream ended, then at least one reconnection attempt was refused: EventSource keeps trying.
            await Harness.WaitUntilAsync(page, "h.errors >= 2", Timeout);

            gateway = GatewayProcess.Start(environment);
            running = true;
            await Wait.UntilAsync(() => gateway.IsListeningAsync(probe), Timeout, $"the restarted gateway listens on port {port}");
            await Harness.WaitUntilAsync(page, "h.opens === 2 && h.events.length >= 10", Timeout);
            // A marker published last: a message delivered twice would arrive before it.
            await amqp.PublishAsync(queue, "after restart");
            await Harness.WaitUntilAsync(page, "h.events.includes('after restart')", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal([.. before, .. whileDown, "after restart"], seen.Events);
            Assert.Equal(2, seen.Opens);
            Assert.All(seen.States, state => Assert.Equal(HarnessState.Connecting, state));
            Assert.True(seen.Errors >= 2, seen.ToString());
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"{ex.Message}\ngateway output:\n{gateway.Stderr}\n{gateway.Stdout}", ex);
        }
        finally
        {
            if (running)
            {
                await gateway.DisposeAsync();
            }

            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task GatewayRestart_UnderAWebSocketPageWithClientAcks_TheReadmesBackoffReconnectsAFewTimesAndGetsEverythingOnce()
    {
        // README "Refusals a page can read": its onclose and its reconnectWithBackoff, as written, with the acknowledging
        // onmessage of "Acknowledgements", in a page whose gateway restarts. The page counts its connection attempts.
        const string name = nameof(GatewayRestart_UnderAWebSocketPageWithClientAcks_TheReadmesBackoffReconnectsAFewTimesAndGetsEverythingOnce);
        var onMessage = ReadmeText.Snippet("ws.onmessage = (e) => {");
        var onClose = ReadmeText.Snippet("socket.onclose = (e) => {");
        var backoff = ReadmeText.Snippet("let delay = 0; // ms");
        var queue = broker.UniqueQueueName(name);
        var port = FreePort.Next();
        var environment = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
        };
        using var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        await using var amqp = await broker.ConnectAsync(name);
        var page = await chromium.NewPageAsync();
        var gateway = GatewayProcess.Start(environment);
        var running = true;
        try
        {
            await Wait.UntilAsync(() => gateway.IsListeningAsync(probe), Timeout, $"the gateway listens on port {port}");
            await page.GotoAsync($"http://127.0.0.1:{port}/healthz");
            await page.EvaluateAsync(
                """
                ([url, onMessage, onClose, backoff]) => {
                  window.ws = { attempts: 0, opens: 0, data: [], closes: [], calls: [] };
                  const handle = (m) => window.ws.data.push(m.data);
                  const renewTokenThenReconnect = () => window.ws.calls.push("renew");
                  const showError = (reason) => window.ws.calls.push("error: " + reason);
                  const connect = () => {
                    window.ws.attempts++;
                    const ws = new WebSocket(url), socket = ws;
                    socket.onopen = () => { socket.opened = true; window.ws.opens++; };
                    socket.addEventListener("close", (e) => window.ws.closes.push(e.code));
                    eval(onMessage);
                    eval(onClose);
                  };
                  eval(backoff);
                  connect();
                }
                """,
                new[] { $"ws://127.0.0.1:{port}/ws?id={queue}&acks=client", onMessage, onClose, backoff });
            await WaitUntilAsync(page, "w.opens === 1");
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the gateway consumes the page's queue");
            string[] before = ["before 1", "before 2", "before 3"];
            foreach (var body in before)
            {
                await amqp.PublishAsync(queue, body);
            }

            await WaitUntilAsync(page, "w.data.length === 3");
            // Acknowledged by the page and passed on: nothing of it is left to come again.
            await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages == 0, Timeout,
                "the page's acknowledgements reached the broker");

            var down = Stopwatch.StartNew();
            gateway.Signal("TERM");
            Assert.Equal(0, await gateway.WaitForExitAsync(Timeout));
            await gateway.DisposeAsync();
            running = false;
            string[] whileDown = ["while down 1", "while down 2", "while down 3"];
            foreach (var body in whileDown)
            {
                await amqp.PublishAsync(queue, body);
            }

            // The 1001, then two attempts refused while nothing listens: at least 0.5 s and 1 s later.
            await WaitUntilAsync(page, "w.closes.length >= 3");
            gateway = GatewayProcess.Start(environment);
            running = true;
            await Wait.UntilAsync(() => gateway.IsListeningAsync(probe), Timeout, $"the restarted gateway listens on port {port}");
            var attemptsWhileDown = await page.EvaluateAsync<int>("() => window.ws.attempts") - 1;
            var downSeconds = down.Elapsed.TotalSeconds;

            await WaitUntilAsync(page, "w.opens === 2 && w.data.length >= 6");
            await amqp.PublishAsync(queue, "after restart");
            await WaitUntilAsync(page, "w.data.includes('after restart')");

            var seen = await page.EvaluateAsync<string[]>("() => window.ws.data");
            Assert.Equal([.. before, .. whileDown, "after restart"], seen);
            Assert.Equal(1001, await page.EvaluateAsync<int>("() => window.ws.closes[0]"));
            Assert.Empty(await page.EvaluateAsync<string[]>("() => window.ws.calls"));
            // The waits are at least 0.5 s, 1 s, 2 s, 4 s, ...: k attempts take at least 0.5 * (2^k - 1) s. A page that
            // reconnected at once would have made hundreds.
            var bound = (int)Math.Floor(Math.Log2((2 * downSeconds) + 1));
            Assert.True(attemptsWhileDown >= 2 && attemptsWhileDown <= bound,
                $"{attemptsWhileDown} attempts in {downSeconds:F1} s down (at most {bound})");
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"{ex.Message}\ngateway output:\n{gateway.Stderr}\n{gateway.Stdout}", ex);
        }
        finally
        {
            if (running)
            {
                await gateway.DisposeAsync();
            }

            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(queue);
        }
    }

    private static async Task WaitUntilAsync(Microsoft.Playwright.IPage page, string condition)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const w = window.ws; return {condition}; }}", null,
                new Microsoft.Playwright.PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds, PollingInterval = 50 });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"the page did not reach `{condition}`; it saw: {await page.EvaluateAsync<string>("() => JSON.stringify(window.ws)")}", ex);
        }
    }
}
