using System.Globalization;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// A topic's history read from a page (<c>?lastEventId=earliest</c>) while live events come, and a page reloaded in
/// the middle of the history: every event once, in order, no gap between history and live.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TopicHistoryPageTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Topic_HistoryFromEarliestWithLiveEvents_PageReloadedMidHistory_EveryEventOnceInOrder()
    {
        const int History = 2000, Live = 300;
        var topic = broker.UniqueQueueName(nameof(Topic_HistoryFromEarliestWithLiveEvents_PageReloadedMidHistory_EveryEventOnceInOrder));
        var stream = Eventsourced.Topics.TopicOptions.DefaultPrefix + topic;
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(Topic_HistoryFromEarliestWithLiveEvents_PageReloadedMidHistory_EveryEventOnceInOrder));
        await using (var first = await gateway.SubscribeAsync($"/topics/{topic}"))
        {
            // the gateway creates the stream for its first subscriber
        }

        for (var i = 0; i < History; i++)
        {
            await amqp.PublishAsync(stream, $"event {i}");
        }

        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/topics/{topic}?lastEventId=earliest")));
            await Harness.WaitUntilAsync(page, "h.events.length >= 1", Timeout);
            var live = Task.Run(async () =>
            {
                for (var i = History; i < History + Live; i++)
                {
                    await amqp.PublishAsync(stream, $"event {i}");
                    await Task.Delay(5);
                }
            });
            await page.ReloadAsync();
            await Harness.WaitUntilAsync(page, $"h.events.includes('event {History + Live - 1}')", Timeout);
            await live;
            await Task.Delay(500);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(Enumerable.Range(0, History + Live).Select(i => $"event {i}"), seen.Events);
            Assert.Equal(seen.Ids.Count, seen.Ids.Distinct().Count());
            Assert.Equal(seen.Ids.Select(id => long.Parse(id, CultureInfo.InvariantCulture)).Order(), seen.Ids.Select(id => long.Parse(id, CultureInfo.InvariantCulture)));
            Assert.Equal(1, seen.Opens);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
