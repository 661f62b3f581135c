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
}
