using Eventsourced.Broker;
using Eventsourced.Tests.Metrics;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Broker;

/// <summary>
/// Event 206 says what follows from no broker connection taking a channel. A publish (a WebSocket client's, a presence
/// event) that finds no publishing connection says that publishes fail: the line said "new subscribers get 503" (seen
/// with a real gateway at a broker's kill -9: the first 206 came from a WebSocket client's publish), which sends an
/// operator looking at subscribers that may be streaming well.
/// </summary>
public sealed class PoolExhaustedLogTests
{
    [Fact]
    public async Task NoPublishingConnection_SaysPublishesFail_NotThatSubscribersGet503()
    {
        var logger = new FakeLogger<BrokerPool>();
        await using var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, new TestMetrics().Gateway, logger);

        var refused = await Assert.ThrowsAsync<BrokerUnavailableException>(() => pool.LeasePublisherAsync(publisherConfirms: true, CancellationToken.None));

        Assert.Contains("no broker connection for publishing is up", refused.Message, StringComparison.Ordinal);
        var line = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 206).Message;
        Assert.Contains("no broker connection for publishing is up", line, StringComparison.Ordinal);
        Assert.Contains("WebSocket clients' publishes and presence events fail until one can", line, StringComparison.Ordinal);
        Assert.DoesNotContain("subscribers get 503", line, StringComparison.Ordinal);
    }
}
