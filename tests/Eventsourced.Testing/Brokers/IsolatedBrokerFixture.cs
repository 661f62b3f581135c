using Xunit;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A private node (never the shared broker, whatever EVENTSOURCED_TEST_AMQP says), a container or a process as
/// <see cref="BrokerChoice"/> picks (<c>EVENTSOURCED_TEST_BROKER</c>), that tests may stop, kill, pause and
/// restart. Tests start with <see cref="EnsureRunningAsync"/> so one that leaves the node down does not break the next.
/// </summary>
public sealed class IsolatedBrokerFixture : IAsyncLifetime, ITestBroker
{
    private IBrokerNode? _node;

    public IBrokerNode Node => _node ?? throw new InvalidOperationException("The isolated broker fixture is not initialized.");

    public string AmqpUrl => Node.AmqpUrl;

    public IRabbitmqctl Rabbitmqctl => Node.Rabbitmqctl;

    public string UniqueQueueName(string testName) => QueueNames.Unique(testName);

    public Task<AmqpTestClient> ConnectAsync(string testName, CancellationToken cancellationToken = default) =>
        AmqpTestClient.ConnectAsync(AmqpUrl, testName, cancellationToken: cancellationToken);

    /// <summary>Resumes the node or starts it again if an earlier test left it paused, stopped or killed.</summary>
    public async Task EnsureRunningAsync(CancellationToken cancellationToken = default)
    {
        await Node.ResumeAsync(cancellationToken);
        if (!Node.IsRunning)
        {
            await Node.StartAsync(cancellationToken);
        }
    }

    public async Task InitializeAsync()
    {
        BrokerSetting setting;
        try
        {
            setting = BrokerChoice.SettingFromEnvironment();
        }
        catch (InvalidOperationException ex)
        {
            throw BrokerFixture.NoBroker(ex.Message, ex);
        }
        _node = await BrokerFixture.StartPrivateNodeAsync(setting, "es-it-iso",
            "the tests that stop and restart a broker need a private RabbitMQ node, which could not be started");
    }

    public async Task DisposeAsync()
    {
        if (_node is not null)
        {
            await _node.DisposeAsync();
        }
    }
}
