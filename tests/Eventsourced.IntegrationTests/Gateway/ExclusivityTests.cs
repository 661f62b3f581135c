using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerLifecycleCollection.Name)]
public sealed class ExclusivityTests(BrokerFixture broker) : GatewayTestBase(broker)
{
    [Fact]
    public async Task ThirtySimultaneousSubscribers_ExactlyOneGets200()
    {
        var queue = Broker.UniqueQueueName(nameof(ThirtySimultaneousSubscribers_ExactlyOneGets200));
        using var start = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, 30).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await Gateway.SubscribeAsync($"/?id={queue}");
        })).ToArray();
        start.Set();
        var clients = await Task.WhenAll(attempts);
        try
        {
            Assert.Single(clients, c => c.Status == HttpStatusCode.OK);
            var refused = clients.Where(c => c.Status != HttpStatusCode.OK).ToList();
            Assert.Equal(29, refused.Count);
            Assert.All(refused, c =>
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, c.Status);
                Assert.Contains("another subscriber", c.Response.Headers.GetValues("X-Status-Reason").Single(), StringComparison.Ordinal);
                Assert.Equal("*", c.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());
            });

            // And the broker agrees: one consumer on the queue.
            Assert.Equal(1u, await Amqp.ConsumerCountAsync(queue));
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task SecondSubscriber_WhileFirstStreams_Gets503WithReasonBody()
    {
        var queue = Broker.UniqueQueueName(nameof(SecondSubscriber_WhileFirstStreams_Gets503WithReasonBody));
        await using var first = await Gateway.SubscribeAsync($"/?id={queue}");
        await using var second = await Gateway.SubscribeAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.Status);
        Assert.Equal("queue is already being consumed by another subscriber\n", await second.ReadBodyAsync());
    }

    [Fact]
    public async Task Reconnect_AfterWinnerLeaves_Gets200AndMessagesPublishedMeanwhile()
    {
        var queue = Broker.UniqueQueueName(nameof(Reconnect_AfterWinnerLeaves_Gets200AndMessagesPublishedMeanwhile));
        var first = await Gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        await Amqp.PublishAsync(queue, "before");
        Assert.Equal(["before"], await first.ReadEventsAsync(1, TimeSpan.FromSeconds(10)));
        await first.DisposeAsync();

        // Wait until the broker has let go of the first consumer, then publish while nobody listens.
        await Amqp.UntilConsumersAsync(queue, 0, TimeSpan.FromSeconds(10), "first consumer released");
        await Amqp.PublishAsync(queue, "while away 1");
        await Amqp.PublishAsync(queue, "while away 2");

        await using var second = await Gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, second.Status);
        var events = await second.ReadEventsAsync(2, TimeSpan.FromSeconds(10));

        // "before" was acknowledged after its flush, so it does not come again.
        Assert.Equal(["while away 1", "while away 2"], events);
    }
}
