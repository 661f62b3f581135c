using Eventsourced.Configuration;

namespace Eventsourced.Tests.WebSockets;

public sealed class WebSocketConfigTests
{
    [Theory]
    [InlineData("${to}")]
    [InlineData("${query:room}.${to}")]
    public void DefaultExchange_WithAKeyTheClientChoosesWhole_IsAProblem(string routingKey)
    {
        var options = new GatewayOptions();
        options.Ws.PublishExchange = string.Empty;
        options.Ws.PublishRoutingKey = routingKey;

        var problem = Assert.Single(ConfigLoader.Check(options, ConfigOrigins.None));

        Assert.Equal("ws.publish_exchange", problem.Key);
        Assert.Contains("must then start with literal text", problem.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Literal text that may begin <c>amq.</c> left clients the broker's own queue names: the server-named queues other
    /// applications take their RPC replies in (<c>amq.gen-...</c>) and <c>amq.rabbitmq.reply-to</c>, as queue.bind refuses for exchanges.
    /// </summary>
    [Theory]
    [InlineData("a${to}")]
    [InlineData("amq${to}")]
    [InlineData("amq.${to}")]
    [InlineData("amq.gen-${to}")]
    [InlineData("AMQ.${to}")]
    public void DefaultExchange_WithALiteralPrefixThatMayBeginAmq_IsAProblem(string routingKey)
    {
        var options = new GatewayOptions();
        options.Ws.PublishExchange = string.Empty;
        options.Ws.PublishRoutingKey = routingKey;

        var problem = Assert.Single(ConfigLoader.Check(options, ConfigOrigins.None));

        Assert.Equal("ws.publish_routing_key", problem.Key);
        Assert.Contains("may begin 'amq.': clients would write into the broker's server-named queues", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("chat.${to}")]
    [InlineData("amqp.${to}")]
    [InlineData("b${to}")]
    public void DefaultExchange_WithALiteralPrefixOfItsOwn_IsFine(string routingKey)
    {
        var options = new GatewayOptions();
        options.Ws.PublishExchange = string.Empty;
        options.Ws.PublishRoutingKey = routingKey;

        Assert.Empty(ConfigLoader.Check(options, ConfigOrigins.None));
    }

    [Fact]
    public void DefaultExchange_WithALiteralPrefix_IsFine()
    {
        var options = new GatewayOptions();
        options.Ws.PublishExchange = string.Empty;
        options.Ws.PublishRoutingKey = "chat.${to}";

        Assert.Empty(ConfigLoader.Check(options, ConfigOrigins.None));
    }

    [Theory]
    [InlineData("${to}")]
    [InlineData("${query:room}.${to}")]
    [InlineData("sub${to}")]
    [InlineData("unsubscribed.queue.${to}")]
    [InlineData("chat.${to}")] // {"to": "topic.room-7"}: chat.topic.room-7, which *.topic.room-7 takes
    [InlineData("chat${to}")]
    [InlineData("chat.topic.${to}")]
    [InlineData("chat.queue${to}")]
    public void PublishingToTheEventsExchange_WithKeysAPresenceEventCouldHave_IsAProblem(string routingKey)
    {
        var options = new GatewayOptions();
        options.Events.Exchange = "amq.topic";
        options.Ws.Publish = true;
        options.Ws.PublishRoutingKey = routingKey;

        var problem = Assert.Single(ConfigLoader.Check(options, ConfigOrigins.None));

        Assert.Equal("ws.publish_routing_key", problem.Key);
        Assert.Contains("which is also events.exchange: ws.publish_routing_key must then start with two words of literal text", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "amq.topic", "chat.msg.${to}")]
    [InlineData(true, "amq.topic", "chat.topics.${claim:sub}.${to}")]
    [InlineData(true, "chat", "${to}")]
    [InlineData(false, "amq.topic", "${to}")]
    public void PublishingElsewhere_OrWithAPrefixOfItsOwn_OrNotAtAll_IsFine(bool publish, string publishExchange, string routingKey)
    {
        var options = new GatewayOptions();
        options.Events.Exchange = "amq.topic";
        options.Ws.Publish = publish;
        options.Ws.PublishExchange = publishExchange;
        options.Ws.PublishRoutingKey = routingKey;

        Assert.Empty(ConfigLoader.Check(options, ConfigOrigins.None));
    }

    [Theory]
    [InlineData("/events", "/poll", "ws.path", "'/events' is also server.path; give each endpoint its own path")]
    [InlineData("/ws", "/WS/", "poll.path", "'/WS/' is also ws.path; give each endpoint its own path")]
    [InlineData("/metrics", "/poll", "metrics.path", "'/metrics' is also ws.path; give each endpoint its own path")]
    public void TransportPaths_MustDifferFromTheOthers(string ws, string poll, string key, string message)
    {
        var options = new GatewayOptions();
        options.Server.Path = "/events";
        options.Ws.Path = ws;
        options.Poll.Path = poll;

        var problem = Assert.Single(ConfigLoader.Check(options, ConfigOrigins.None));

        Assert.Equal((key, message), (problem.Key, problem.Message));
    }
}
