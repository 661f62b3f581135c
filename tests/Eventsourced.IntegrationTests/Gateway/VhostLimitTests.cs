using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A broker-side bound on the queues clients can make the gateway declare (RabbitMQ's vhost limit <c>max-queues</c>,
/// the README's answer to a client walking ids): a declare over it is refused with 406 PRECONDITION_FAILED, the code
/// of a queue that exists with other arguments. It must reach the client as the broker's refusal (503, to try again
/// later), not as <c>403 queue is not available</c>, which tells a client its own queue is someone else's.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class VhostLimitTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly string _vhost = $"es-limit-{Guid.NewGuid():N}"[..20];

    public async Task InitializeAsync()
    {
        var user = new Uri(broker.AmqpUrl).UserInfo.Split(':')[0];
        await broker.Rabbitmqctl.RunCheckedAsync(["add_vhost", _vhost]);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, Uri.UnescapeDataString(user), ".*", ".*", ".*"]);
    }

    public async Task DisposeAsync() => await broker.Rabbitmqctl.RunAsync(["delete_vhost", _vhost]);

    private string VhostUrl => new UriBuilder(broker.AmqpUrl) { Path = "/" + _vhost }.Uri.ToString();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(64, 2)]
    public async Task QueueOverTheVhostsLimit_IsA503ToTryAgain_NotA403(int subscribersPerChannel, int maxQueues)
    {
        // With shared channels every subscription also holds its lock queue, which counts against the limit too.
        await broker.Rabbitmqctl.RunCheckedAsync(["set_vhost_limits", "-p", _vhost, $"{{\"max-queues\": {maxQueues}}}"]);
        await using var gateway = await GatewayServer.StartAsync(VhostUrl, o => o.Broker.SubscribersPerChannel = subscribersPerChannel);

        await using var first = await gateway.SubscribeAsync("/?id=first");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        var leases = gateway.Pool.Slots.Sum(s => s.Leases);

        foreach (var path in new[] { "/?id=second", "/poll?id=third" })
        {
            using var response = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("broker refused the subscription", response.Headers.GetValues("X-Status-Reason").Single());
            Assert.Equal("5", response.Headers.GetValues("Retry-After").Single());
        }

        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == leases), Patience, "refused channels released");
        Assert.Contains("eventsourced_streams_total{outcome=\"broker_error\"} 2", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }
}
