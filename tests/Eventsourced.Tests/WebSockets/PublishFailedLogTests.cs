using Eventsourced.Broker;
using Eventsourced.Tests.Metrics;
using Eventsourced.WebSockets;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Eventsourced.Tests.WebSockets;

/// <summary>
/// What a client's failed publish writes to the log. Event 330 names the exchange: with <c>ws.publish_exchange: ''</c>
/// (the default exchange) the line read "publish to exchange  failed", the name missing. A publish that finds no
/// publishing connection is the pool's to tell (event 206, then 207): it also wrote a 330, so one outage said it twice
/// (both seen with a real gateway at a broker's kill -9).
/// </summary>
public sealed class PublishFailedLogTests
{
    [Theory]
    [InlineData("")]
    [InlineData("chat")]
    public async Task NoPublishingConnection_IsTheBrokerPoolsEvent206_Alone(string exchange)
    {
        var logger = new FakeLogger<WebSocketPublisher>();
        var poolLogger = new FakeLogger<BrokerPool>();
        await using var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, new TestMetrics().Gateway, poolLogger);
        await using var publisher = new WebSocketPublisher(pool, logger);

        var result = await publisher.PublishAsync(exchange, "chat.lobby", new BasicProperties(), new byte[] { 1 }, CancellationToken.None);

        Assert.Equal(PublishResult.Failed, result);
        Assert.Empty(logger.Collector.GetSnapshot());
        var line = Assert.Single(poolLogger.Collector.GetSnapshot(), r => r.Id.Id == 206).Message;
        Assert.Contains("WebSocket clients' publishes and presence events fail", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\u00000 404 NOT_FOUND", "'' (the default exchange)")]
    [InlineData("chat\u0000404 NOT_FOUND - no exchange 'chat'", "chat")]
    [InlineData("amq.topic\u0000no confirm within 15 s", "amq.topic")]
    public void Event330_NamesTheExchange_TheDefaultOneSaid(string key, string expected) =>
        Assert.Equal(expected, WebSocketPublisher.ExchangeOf(key));
}
