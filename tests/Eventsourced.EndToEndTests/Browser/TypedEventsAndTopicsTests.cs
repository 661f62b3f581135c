using Eventsourced.EndToEndTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// A page of another origin in Chromium: typed events (<c>sse.event</c>) reach <c>addEventListener(type)</c> and
/// untyped ones <c>onmessage</c>; a topic's EventSource, cut off, reconnects with <c>Last-Event-ID</c> by itself and
/// gets exactly what it missed.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TypedEventsAndTopicsTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TypedEvents_ReachTheirListener_UntypedOnesOnmessage()
    {
        var queue = broker.UniqueQueueName(nameof(TypedEvents_ReachTheirListener_UntypedOnesOnmessage));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Sse.Event = true);
        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(TypedEvents_ReachTheirListener_UntypedOnesOnmessage));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")) + "&types=price,news");
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);

            await amqp.PublishAsync(queue, "42.50", properties: new BasicProperties { Type = "price" });
            await amqp.PublishAsync(queue, "hello");
            await amqp.PublishAsync(queue, "rain tomorrow", properties: new BasicProperties { Type = "news" });
            await amqp.PublishAsync(queue, "43.10", properties: new BasicProperties { Type = "price" });
            await amqp.PublishAsync(queue, "nobody listens for this type", properties: new BasicProperties { Type = "other" });
            await amqp.PublishAsync(queue, "bye");

            await Harness.WaitUntilAsync(page, "h.events.length === 2 && h.typed.length === 3", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["price: 42.50", "news: rain tomorrow", "price: 43.10"], seen.Typed);
            Assert.Equal(["hello", "bye"], seen.Events);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// <c>sse.heartbeat_event</c>: Chromium dispatches the heartbeat (an event with empty data) to its listener, where a
    /// page can time it; <c>onmessage</c> sees only messages.
    /// </summary>
    [Fact]
    public async Task HeartbeatEvent_ReachesItsListener_NotOnmessage()
    {
        var queue = broker.UniqueQueueName(nameof(HeartbeatEvent_ReachesItsListener_NotOnmessage));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Sse.HeartbeatEvent = "heartbeat";
        });
        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(HeartbeatEvent_ReachesItsListener_NotOnmessage));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")) + "&types=heartbeat");
            await Harness.WaitUntilAsync(page, "h.typed.length >= 2", Timeout);
            await amqp.PublishAsync(queue, "hello");
            await Harness.WaitUntilAsync(page, "h.events.length === 1", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["hello"], seen.Events);
            Assert.All(seen.Typed, t => Assert.Equal("heartbeat: ", t));
            Assert.Equal(1, seen.Opens);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Topic_GatewayRestartsUnderTheOpenPage_EventSourceResumesWithLastEventIdNothingMissedNothingTwice()
    {
        var topic = broker.UniqueQueueName(nameof(Topic_GatewayRestartsUnderTheOpenPage_EventSourceResumesWithLastEventIdNothingMissedNothingTwice));
        var port = FreePort.Next();
        void Configure(Configuration.GatewayOptions o)
        {
            o.Server.Address = $"127.0.0.1:{port}";
            o.Sse.RetryMilliseconds = 300;
        }

        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(Topic_GatewayRestartsUnderTheOpenPage_EventSourceResumesWithLastEventIdNothingMissedNothingTwice));
        var page = await chromium.NewPageAsync();
        try
        {
            var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(port, $"/topics/{topic}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            for (var i = 0; i < 5; i++)
            {
                await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, $"event {i}");
            }

            await Harness.WaitUntilAsync(page, "h.events.length === 5", Timeout);
            await gateway.DisposeAsync();
            for (var i = 5; i < 10; i++)
            {
                await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, $"event {i}");
            }

            await Harness.WaitUntilAsync(page, "h.errors >= 2", Timeout);
            await using var restarted = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await Harness.WaitUntilAsync(page, "h.opens === 2 && h.events.length >= 10", Timeout);
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "event 10");
            await Harness.WaitUntilAsync(page, "h.events.includes('event 10')", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(Enumerable.Range(0, 11).Select(i => $"event {i}"), seen.Events);
            Assert.Equal(Enumerable.Range(0, 11).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), seen.Ids);
            Assert.All(seen.States, state => Assert.Equal(HarnessState.Connecting, state));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task Topic_PageCutOffBeforeItsFirstEvent_ResumesWithWhatWasPublishedMeanwhile()
    {
        var topic = broker.UniqueQueueName(nameof(Topic_PageCutOffBeforeItsFirstEvent_ResumesWithWhatWasPublishedMeanwhile));
        var port = FreePort.Next();
        void Configure(Configuration.GatewayOptions o)
        {
            o.Server.Address = $"127.0.0.1:{port}";
            o.Sse.RetryMilliseconds = 300;
        }

        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(Topic_PageCutOffBeforeItsFirstEvent_ResumesWithWhatWasPublishedMeanwhile));
        var page = await chromium.NewPageAsync();
        try
        {
            // The topic has had events on this gateway (another subscriber reads them) before the page subscribes.
            var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await using (var other = await gateway.SubscribeAsync($"/topics/{topic}"))
            {
                for (var i = 0; i < 3; i++)
                {
                    await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, $"event {i}");
                }

                await other.ReadEventsAsync(3, Timeout);
                await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(port, $"/topics/{topic}")));
                await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
                await Task.Delay(500); // the id block came in the opening's flush; let the page read it
            }

            // Cut off before the page had any event; two are published while it is away.
            await gateway.DisposeAsync();
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "event 3");
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "event 4");
            await Harness.WaitUntilAsync(page, "h.errors >= 2", Timeout);
            await using var restarted = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await Harness.WaitUntilAsync(page, "h.opens === 2", Timeout);
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "event 5");
            await Harness.WaitUntilAsync(page, "h.events.includes('event 5')", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["event 3", "event 4", "event 5"], seen.Events);
            Assert.Equal(["3", "4", "5"], seen.Ids);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
    /// <summary>
    /// README "Ids and resume": a topic whose stream exists (declared by a service, or created by another instance) but
    /// holds no event yet. The page's stream opened without an id, so an EventSource cut off before its first event
    /// reconnected without <c>Last-Event-ID</c> and missed what was published meanwhile (its events were
    /// <c>["event 2"]</c>); it opens with <c>earliest</c> now, and the page resumes from the stream's start.
    /// </summary>
    [Fact]
    public async Task Topic_EmptyStreamThatExisted_PageCutOffBeforeItsFirstEvent_ResumesWithWhatWasPublishedMeanwhile()
    {
        const string name = nameof(Topic_EmptyStreamThatExisted_PageCutOffBeforeItsFirstEvent_ResumesWithWhatWasPublishedMeanwhile);
        var topic = broker.UniqueQueueName(name);
        var stream = Eventsourced.Topics.TopicOptions.DefaultPrefix + topic;
        var port = FreePort.Next();
        void Configure(Configuration.GatewayOptions o)
        {
            o.Server.Address = $"127.0.0.1:{port}";
            o.Sse.RetryMilliseconds = 300;
        }

        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(name);
        await amqp.DeclareQueueAsync(stream, durable: true, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "stream" });
        var page = await chromium.NewPageAsync();
        try
        {
            var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(port, $"/topics/{topic}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await Task.Delay(500); // the id block came in the opening's flush; let the page read it

            // Cut off before the stream had any event; two are published while the page is away.
            await gateway.DisposeAsync();
            await amqp.PublishAsync(stream, "event 0");
            await amqp.PublishAsync(stream, "event 1");
            await Harness.WaitUntilAsync(page, "h.errors >= 2", Timeout);
            await using var restarted = await GatewayServer.StartAsync(broker.AmqpUrl, Configure);
            await Harness.WaitUntilAsync(page, "h.opens === 2", Timeout);
            await amqp.PublishAsync(stream, "event 2");
            await Harness.WaitUntilAsync(page, "h.events.includes('event 2')", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["event 0", "event 1", "event 2"], seen.Events);
            Assert.Equal(["0", "1", "2"], seen.Ids);
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(stream);
        }
    }
}
