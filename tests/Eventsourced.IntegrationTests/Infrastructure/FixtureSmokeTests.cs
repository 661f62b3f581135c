using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>Proves the shared broker fixture and its helpers work against a real broker.</summary>
[Collection(BrokerCollection.Name)]
public sealed class FixtureSmokeTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task PublishAsync_ThenReceiveAsync_DeliversBodyTimestampAndProperties()
    {
        await using var client = await broker.ConnectAsync(nameof(PublishAsync_ThenReceiveAsync_DeliversBodyTimestampAndProperties));
        var queue = broker.UniqueQueueName(nameof(PublishAsync_ThenReceiveAsync_DeliversBodyTimestampAndProperties));
        await client.DeclareQueueAsync(queue, expiresSeconds: 60);
        var sent = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

        await client.PublishAsync(queue, "héllo, wörld", sent, new BasicProperties { MessageId = "m-1", Type = "greeting" });
        await client.PublishAsync(queue, Encoding.UTF8.GetBytes("second"));
        var received = await client.ReceiveAsync(queue, 2, Timeout);

        Assert.Equal(["héllo, wörld", "second"], received.Select(message => message.Text));
        Assert.Equal(sent.ToUnixTimeSeconds(), received[0].Properties.Timestamp.UnixTime);
        Assert.Equal("m-1", received[0].Properties.MessageId);
        Assert.Equal("greeting", received[0].Properties.Type);
        Assert.False(received[0].Redelivered);
        Assert.Equal(0u, await client.MessageCountAsync(queue));
    }

    [Fact]
    public async Task Rabbitmqctl_ListQueues_ShowsDeclaredQueueWithItsMessages()
    {
        await using var client = await broker.ConnectAsync(nameof(Rabbitmqctl_ListQueues_ShowsDeclaredQueueWithItsMessages));
        var queue = broker.UniqueQueueName(nameof(Rabbitmqctl_ListQueues_ShowsDeclaredQueueWithItsMessages));
        await client.DeclareQueueAsync(queue, expiresSeconds: 60);
        await client.PublishAsync(queue, "one");
        await client.PublishAsync(queue, "two");

        var listed = await broker.Rabbitmqctl.FindQueueAsync(queue);

        Assert.Equal(new QueueInfo(queue, Consumers: 0, Messages: 2), listed);
        Assert.Equal(2u, await client.MessageCountAsync(queue));
        Assert.Equal(0u, await client.ConsumerCountAsync(queue));
    }

    [Fact]
    public async Task Rabbitmqctl_ListConnectionsAndChannels_ShowTheTestsNamedConnection()
    {
        const string Name = nameof(Rabbitmqctl_ListConnectionsAndChannels_ShowTheTestsNamedConnection);
        await using var client = await broker.ConnectAsync(Name);
        var queue = broker.UniqueQueueName(Name);
        await client.DeclareQueueAsync(queue, expiresSeconds: 60);
        await client.PublishAsync(queue, "keeps the publish channel open");

        ConnectionInfo? connection = null;
        await Wait.UntilAsync(
            async () => (connection = (await broker.Rabbitmqctl.ListConnectionsAsync()).FirstOrDefault(c => c.ClientProvidedName == Name)) is not null,
            Timeout,
            $"rabbitmqctl lists the connection named {Name}");
        var channels = (await broker.Rabbitmqctl.ListChannelsAsync())
            .Where(channel => channel.Name.StartsWith(connection!.Name + " (", StringComparison.Ordinal))
            .ToList();

        Assert.Equal(1, connection!.Channels);
        var publishChannel = Assert.Single(channels);
        Assert.Equal(0, publishChannel.ConsumerCount);
        Assert.True(publishChannel.Number >= 1);
    }

    [Fact]
    public async Task QueueHelpers_MissingQueue_ReportItAbsentAndPublishFails()
    {
        await using var client = await broker.ConnectAsync(nameof(QueueHelpers_MissingQueue_ReportItAbsentAndPublishFails));
        var queue = broker.UniqueQueueName(nameof(QueueHelpers_MissingQueue_ReportItAbsentAndPublishFails));

        Assert.False(await client.QueueExistsAsync(queue));
        Assert.Null(await client.ConsumerCountAsync(queue));
        Assert.Null(await client.MessageCountAsync(queue));
        var error = await Assert.ThrowsAsync<PublishReturnException>(() => client.PublishAsync(queue, "nobody listens"));
        Assert.True(error.IsReturn);

        // The connection survives all of that.
        await client.DeclareQueueAsync(queue, expiresSeconds: 60);
        Assert.True(await client.QueueExistsAsync(queue));
        await client.DeleteQueueAsync(queue);
        Assert.False(await client.QueueExistsAsync(queue));
    }

    [Fact]
    public async Task ConsumerCountAsync_WhileReceiving_CountsTheConsumer()
    {
        await using var client = await broker.ConnectAsync(nameof(ConsumerCountAsync_WhileReceiving_CountsTheConsumer));
        var queue = broker.UniqueQueueName(nameof(ConsumerCountAsync_WhileReceiving_CountsTheConsumer));
        await client.DeclareQueueAsync(queue, expiresSeconds: 60);

        var receiving = client.ReceiveAsync(queue, 1, Timeout);
        await client.UntilConsumersAsync(queue, 1, Timeout, $"queue {queue} has a consumer");
        await client.PublishAsync(queue, "release the consumer");
        var received = await receiving;

        Assert.Equal("release the consumer", Assert.Single(received).Text);
        await client.UntilConsumersAsync(queue, 0, Timeout, $"queue {queue} has no consumer");
    }

    [Fact]
    public async Task WaitUntilAsync_ConditionNeverHolds_ThrowsTimeoutNamingTheDescription()
    {
        var attempts = 0;

        var error = await Assert.ThrowsAsync<TimeoutException>(() => Wait.UntilAsync(
            () => ++attempts < 0, TimeSpan.FromMilliseconds(200), "pigs fly", TimeSpan.FromMilliseconds(20)));

        Assert.Contains("pigs fly", error.Message, StringComparison.Ordinal);
        Assert.True(attempts > 1, $"polled {attempts} times");
    }

    [Fact]
    [Trait("Category", "Stress")]
    public async Task PublishAndReceive_TenThousandMessages_AllArriveInOrder()
    {
        const int Count = 10_000;
        await using var publisher = await broker.ConnectAsync(nameof(PublishAndReceive_TenThousandMessages_AllArriveInOrder) + "-publisher");
        await using var consumer = await broker.ConnectAsync(nameof(PublishAndReceive_TenThousandMessages_AllArriveInOrder) + "-consumer");
        var queue = broker.UniqueQueueName(nameof(PublishAndReceive_TenThousandMessages_AllArriveInOrder));
        await publisher.DeclareQueueAsync(queue, expiresSeconds: 120);

        var receiving = consumer.ReceiveAsync(queue, Count, TimeSpan.FromMinutes(2));
        for (var i = 0; i < Count; i++)
        {
            await publisher.PublishAsync(queue, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var received = await receiving;

        Assert.Equal(Enumerable.Range(0, Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), received.Select(m => m.Text));
        await publisher.DeleteQueueAsync(queue);
    }
}
