using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Every <c>503</c> says when to try again (<c>Retry-After</c>, whole seconds), as the <c>429</c>s do: a queue held by
/// another subscriber after <c>queue.busy_grace</c> (rounded up, at least 1), the broker's absence after 5 s. The busy
/// queue's <c>503</c> had none, so a page's <c>fetch</c> loop could only guess.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class RetryAfterTests(BrokerFixture broker)
{
    [Theory]
    [InlineData(3, "3")]
    [InlineData(0, "1")]
    public async Task BusyQueue_503_CarriesTheBusyGraceAsRetryAfter_OnStreamAndPoll(int grace, string retryAfter)
    {
        var queue = broker.UniqueQueueName(nameof(BusyQueue_503_CarriesTheBusyGraceAsRetryAfter_OnStreamAndPoll));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.BusyGraceSeconds = grace);
        await using var first = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, first.Status);

        foreach (var path in new[] { $"/?id={queue}", $"/poll?id={queue}" })
        {
            using var busy = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.Equal(retryAfter, busy.Headers.GetValues("Retry-After").Single());
        }
    }

    [Fact]
    public async Task NoBrokerConnection_503_CarriesRetryAfter_OnEveryTransport()
    {
        await using var gateway = await GatewayServer.StartAsync($"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/");

        foreach (var path in new[] { "/?id=q", "/poll?id=q", "/topics/t" })
        {
            using var refused = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("5", refused.Headers.GetValues("Retry-After").Single());
        }
    }
}
