using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>The opt-in SSE fields on a queue's stream: <c>event:</c> from the AMQP type, <c>id:</c> from message_id, <c>retry:</c>.</summary>
[Collection(BrokerCollection.Name)]
public sealed class SseFieldTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Default_TypeAndMessageIdAreNotSent()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var amqp = await broker.ConnectAsync(nameof(SseFieldTests));
        var queue = broker.UniqueQueueName(nameof(Default_TypeAndMessageIdAreNotSent));
        await using var stream = await gateway.SubscribeAsync($"/?id={queue}");

        await amqp.PublishAsync(queue, "42", properties: new BasicProperties { Type = "price", MessageId = "m-1" });

        Assert.True(await stream.ReadUntilAsync(t => t.EndsWith("\n\ndata: 42\n\n", StringComparison.Ordinal), Timeout));
        Assert.Equal(": SSE stream\n\ndata: 42\n\n", stream.RawText);
    }

    [Fact]
    public async Task Configured_EventFromTypeIdFromMessageIdAndRetry()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Sse.Event = true;
            o.Sse.Id = true;
            o.Sse.RetryMilliseconds = 10000;
        });
        await using var amqp = await broker.ConnectAsync(nameof(SseFieldTests));
        var queue = broker.UniqueQueueName(nameof(Configured_EventFromTypeIdFromMessageIdAndRetry));
        await using var stream = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, stream.Status);

        await amqp.PublishAsync(queue, "42", properties: new BasicProperties { Type = "price", MessageId = "m-1" });
        await amqp.PublishAsync(queue, "plain");
        // A type or id with a line break must not end the field early (and inject one of its own).
        await amqp.PublishAsync(queue, "tricky", properties: new BasicProperties { Type = "a\r\ndata: injected", MessageId = "x\nretry: 1" });

        var items = await stream.ReadItemsAsync(3, Timeout);
        Assert.Equal(
            ": SSE stream\n\nretry: 10000\n\nevent: price\nid: m-1\ndata: 42\n\nid: \ndata: plain\n\nevent: adata: injected\nid: xretry: 1\ndata: tricky\n\n",
            stream.RawText);
        Assert.Equal(["price", "message", "adata: injected"], items.Select(i => i.EventType));
        Assert.Equal(["42", "plain", "tricky"], items.Select(i => i.Data));
    }
}
