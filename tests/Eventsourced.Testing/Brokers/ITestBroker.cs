namespace Eventsourced.Testing.Brokers;

/// <summary>What a test gets from either broker fixture.</summary>
public interface ITestBroker
{
    /// <summary>Where the broker listens, with credentials: <c>amqp://user:pass@host:port/</c>.</summary>
    string AmqpUrl { get; }

    /// <summary>rabbitmqctl for the broker's node, to observe what the gateway did (queues, consumers, channels).</summary>
    /// <exception cref="InvalidOperationException">The broker's node is unknown (an external broker without EVENTSOURCED_TEST_NODE).</exception>
    IRabbitmqctl Rabbitmqctl { get; }

    /// <summary>A queue name no other test, run or process uses; see <see cref="QueueNames.Unique"/>.</summary>
    string UniqueQueueName(string testName);

    /// <summary>An AMQP client whose connection is named after the test.</summary>
    Task<AmqpTestClient> ConnectAsync(string testName, CancellationToken cancellationToken = default);
}
