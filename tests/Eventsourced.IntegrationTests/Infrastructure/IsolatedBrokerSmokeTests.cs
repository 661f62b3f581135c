using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>Proves the isolated broker (a process or a container) can be restarted, killed and paused, and comes back.</summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class IsolatedBrokerSmokeTests(IsolatedBrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public Task InitializeAsync() => broker.EnsureRunningAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task RestartAsync_DurableQueueWithPersistentMessage_ComesBackWithIt()
    {
        var queue = broker.UniqueQueueName(nameof(RestartAsync_DurableQueueWithPersistentMessage_ComesBackWithIt));
        var urlBefore = broker.AmqpUrl;
        await using (var before = await broker.ConnectAsync(nameof(RestartAsync_DurableQueueWithPersistentMessage_ComesBackWithIt)))
        {
            await before.DeclareQueueAsync(queue, durable: true);
            await before.PublishAsync(queue, "survivor", properties: new BasicProperties { Persistent = true });

            await broker.Node.RestartAsync();

            await Wait.UntilAsync(() => !before.Connection.IsOpen, Timeout, "the old connection notices the restart");
        }

        await using var after = await broker.ConnectAsync(nameof(RestartAsync_DurableQueueWithPersistentMessage_ComesBackWithIt) + "-after");
        Assert.Equal(urlBefore, broker.AmqpUrl);
        Assert.True(broker.Node.IsRunning);
        Assert.Equal(new QueueInfo(queue, 0, 1), await broker.Rabbitmqctl.FindQueueAsync(queue));
        var message = await after.GetAsync(queue);
        Assert.Equal("survivor", message?.Text);
        await after.DeleteQueueAsync(queue);
    }

    [Fact]
    public async Task KillAsync_ThenStartAsync_ComesBackOnTheSameUrl()
    {
        await using (var before = await broker.ConnectAsync(nameof(KillAsync_ThenStartAsync_ComesBackOnTheSameUrl)))
        {
            await broker.Node.KillAsync();

            Assert.False(broker.Node.IsRunning);
            await Wait.UntilAsync(() => !before.Connection.IsOpen, Timeout, "the connection notices the killed node");
        }
        await Assert.ThrowsAsync<TimeoutException>(() => AmqpTestClient.ConnectAsync(broker.AmqpUrl, "refused", TimeSpan.FromSeconds(1)));

        await broker.Node.StartAsync();

        await using var after = await broker.ConnectAsync(nameof(KillAsync_ThenStartAsync_ComesBackOnTheSameUrl) + "-after");
        var queue = broker.UniqueQueueName(nameof(KillAsync_ThenStartAsync_ComesBackOnTheSameUrl));
        await after.DeclareQueueAsync(queue, expiresSeconds: 60);
        await after.PublishAsync(queue, "alive");
        Assert.Equal("alive", (await after.GetAsync(queue))?.Text);
    }

    [Fact]
    public async Task PauseAsync_ThenResumeAsync_NothingAnswersUntilItResumes()
    {
        const string Name = nameof(PauseAsync_ThenResumeAsync_NothingAnswersUntilItResumes);
        await using var client = await broker.ConnectAsync(Name);
        var queue = broker.UniqueQueueName(Name);
        await client.DeclareQueueAsync(queue, expiresSeconds: 120);

        await broker.Node.PauseAsync();
        try
        {
            Assert.True(broker.Node.IsRunning);
            await Assert.ThrowsAsync<TimeoutException>(() => AmqpTestClient.ConnectAsync(broker.AmqpUrl, Name + "-frozen", TimeSpan.FromSeconds(1)));
        }
        finally
        {
            await broker.Node.ResumeAsync();
        }

        // The connection made before the pause lives on (its heartbeat timeout is longer than the pause).
        await client.PublishAsync(queue, "after the thaw");
        Assert.Equal("after the thaw", (await client.GetAsync(queue))?.Text);
        await client.DeleteQueueAsync(queue);
    }

    [Fact]
    [Trait("Category", "Stress")]
    public async Task KillAndStart_ThreeTimes_ComesBackEveryTime()
    {
        for (var round = 1; round <= 3; round++)
        {
            await broker.Node.KillAsync();
            await broker.Node.StartAsync();

            await using var client = await broker.ConnectAsync($"{nameof(KillAndStart_ThreeTimes_ComesBackEveryTime)}-{round}");
            var queue = broker.UniqueQueueName($"{nameof(KillAndStart_ThreeTimes_ComesBackEveryTime)}-{round}");
            await client.DeclareQueueAsync(queue, expiresSeconds: 60);
            Assert.Equal(0u, await client.ConsumerCountAsync(queue));
        }
    }
}
