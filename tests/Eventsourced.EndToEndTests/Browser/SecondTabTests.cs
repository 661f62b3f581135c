using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// Two tabs of one browser on the same queue: the gateway gives the stream to the first and refuses the
/// second with 503; what the browser then does is what the README documents.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SecondTabTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task SecondTab_SameQueue_Gets503AndItsEventSourceNeverRetries()
    {
        var queue = broker.UniqueQueueName(nameof(SecondTab_SameQueue_Gets503AndItsEventSourceNeverRetries));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var streamUrl = PageServer.GatewayUrl(gateway.Port, $"/?id={queue}");
        var first = await chromium.NewPageAsync();
        try
        {
            await first.GotoAsync(site.HarnessUrl(streamUrl));
            await Harness.WaitUntilAsync(first, "h.opens === 1", Timeout);

            var second = await first.Context.NewPageAsync();
            var requests = new List<string>();
            var responses = new List<IResponse>();
            second.Request += (_, request) => { if (request.Url == streamUrl) { lock (requests) { requests.Add(request.Url); } } };
            second.Response += (_, response) => { if (response.Url == streamUrl) { lock (responses) { responses.Add(response); } } };
            await second.GotoAsync(site.HarnessUrl(streamUrl));
            await Harness.WaitUntilAsync(second, "h.errors >= 1", Timeout);

            var refusal = Assert.Single(responses);
            Assert.Equal(503, refusal.Status);
            Assert.Contains("another subscriber", await refusal.HeaderValueAsync("x-status-reason") ?? "", StringComparison.Ordinal);

            // Longer than EventSource's 3 s reconnection delay: a retry would have come by now.
            await Task.Delay(TimeSpan.FromSeconds(5));
            await using var amqp = await broker.ConnectAsync(nameof(SecondTab_SameQueue_Gets503AndItsEventSourceNeverRetries));
            await amqp.PublishAsync(queue, "for the first tab");
            await Harness.WaitUntilAsync(first, "h.events.length === 1", Timeout);

            var secondSeen = await Harness.ReadAsync(second);
            Assert.Equal([HarnessState.Closed], secondSeen.States);
            Assert.Equal(0, secondSeen.Opens);
            Assert.Empty(secondSeen.Events);
            Assert.Equal(["for the first tab"], (await Harness.ReadAsync(first)).Events);
            lock (requests)
            {
                Assert.Single(requests);
            }

            // Closing the first tab frees the queue, but the second tab's EventSource stays closed...
            await first.CloseAsync();
            await amqp.UntilConsumersAsync(queue, 0, Timeout, "the gateway lets go of the queue");
            await amqp.PublishAsync(queue, "waits in the queue");
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Empty((await Harness.ReadAsync(second)).Events);
            lock (requests)
            {
                Assert.Single(requests);
            }

            // ...until the page opens a new one (or is reloaded), which then gets what waited.
            await second.EvaluateAsync("url => { window.source.close(); window.source = new EventSource(url); window.source.onmessage = e => window.harness.events.push(e.data); }", streamUrl);
            await Harness.WaitUntilAsync(second, "h.events.length === 1", Timeout);
            Assert.Equal(["waits in the queue"], (await Harness.ReadAsync(second)).Events);
        }
        finally
        {
            await first.Context.CloseAsync();
        }
    }
}
