using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>sse.direct_writes</c> for a client's queue: once the stream runs, its batches go straight to the socket. Read
/// here off a raw socket, chunk framing and all; acknowledged, as ever, only once the client's TCP has the bytes.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class DirectWriteTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(DirectWriteTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task QueueStream_WrittenStraightToTheSocket_EveryMessageInOrder_AcknowledgedOnceTheClientHasIt()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var queue = broker.UniqueQueueName(nameof(QueueStream_WrittenStraightToTheSocket_EveryMessageInOrder_AcknowledgedOnceTheClientHasIt));
        using var client = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/?id={queue}");
        Assert.Equal(200, client.Status);
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "subscribed");

        for (var i = 0; i < 500; i++)
        {
            await _amqp.PublishAsync(queue, $"m{i}");
        }

        await client.ReadUntilAsync(body => body.Contains("data: m499\n\n", StringComparison.Ordinal), Timeout);
        var events = client.Body.Split("\n\n").Where(e => e.StartsWith("data: ", StringComparison.Ordinal)).Select(e => e[6..]);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"m{i}"), events);
        Assert.Equal(1, await gateway.MetricAsync("eventsourced_direct_write_streams_total"));
        await Wait.UntilAsync(async () => await _amqp.MessageCountAsync(queue) == 0 && await gateway.MetricAsync("eventsourced_messages_delivered_total") == 500, Timeout, "all 500 acknowledged");
    }

    [Fact]
    public async Task DirectWritesOff_TheStreamIsWrittenByKestrel()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Sse.DirectWrites = false);
        var queue = broker.UniqueQueueName(nameof(DirectWritesOff_TheStreamIsWrittenByKestrel));
        await using var stream = await gateway.SubscribeAsync($"/?id={queue}");
        await _amqp.UntilConsumersAsync(queue, 1, Timeout, "subscribed");

        for (var i = 0; i < 50; i++)
        {
            await _amqp.PublishAsync(queue, $"m{i}");
        }

        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m{i}"), await stream.ReadEventsAsync(50, Timeout));
        Assert.Equal(0, await gateway.MetricAsync("eventsourced_direct_write_streams_total"));
    }
}
