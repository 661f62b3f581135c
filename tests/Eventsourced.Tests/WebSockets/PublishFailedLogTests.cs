using Eventsourced.Broker;
using Eventsourced.Tests.Metrics;
using Eventsourced.WebSockets;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Eventsourced.Tests.WebSockets;

/// <summary>
/// Event 330 names the exchange a client's publish failed to. With <c>ws.publish_exchange: ''</c> (the default exchange)
/// the line read "publish to exchange  failed", the name missing (seen with a real gateway at a broker's kill -9).
/// </summary>
public sealed class PublishFailedLogTests
{
    [Theory]
    [InlineData("", "A client's publish to exchange '' (the default exchange) failed: no broker connection for publishing is up")]
    [InlineData("chat", "A client's publish to exchange chat failed: no broker connection for publishing is up")]
    public async Task NoPublishingConnection_NamesTheExchange(string exchange, string expected)
    {
        var logger = new FakeLogger<WebSocketPublisher>();
        await using var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, new TestMetrics().Gateway, new FakeLogger<BrokerPool>());
        await using var publisher = new WebSocketPublisher(pool, logger);

        var result = await publisher.PublishAsync(exchange, "chat.lobby", new BasicProperties(), new byte[] { 1 }, CancellationToken.None);

        Assert.Equal(PublishResult.Failed, result);
        Assert.Equal(expected, Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 330).Message);
    }
}
