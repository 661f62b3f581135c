using Eventsourced.Testing.Brokers;
using Eventsourced.Testing.Clusters;

namespace Eventsourced.IntegrationTests.Infrastructure;

// xunit finds collection definitions only in the test assembly itself, so they live here and the
// fixtures in Eventsourced.Testing.

// The tests that share the one test broker come in four collections (and one that runs alone, below), which xunit runs next to each other (up to
// maxParallelThreads in xunit.runner.json): in one collection, 58 classes took 11 of the suite's 13.5 minutes one
// after another, most of it waiting (for grace periods, heartbeats, timeouts), not working. Every such test keeps to
// its own queues, vhost, user and connections (UniqueQueueName), as it must anyway: the broker may be shared with
// other runs. What goes where: the tests that load the machine (memory, floods, scale, slow readers) are one
// collection, so that they never run beside each other; the lifecycle of subscriptions and channels another; topics
// and transports a third; the rest (requests, tokens, observability) the default. Each collection has its own
// BrokerFixture: with EVENTSOURCED_TEST_AMQP set (make test) that is a connection check, without it a private node each.

/// <summary>Tests that share the test broker (requests, tokens, observability): <c>[Collection(BrokerCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker";
}

/// <summary>Tests that load the machine (memory, connection floods, scale, slow readers): one at a time, beside the other collections.</summary>
[CollectionDefinition(Name)]
public sealed class BrokerLoadCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker: load";
}

/// <summary>
/// Tests that race the gateway's heap against a flood of large messages (memory admission, slow readers under a heap
/// limit): run alone, after the parallel collections. Beside three other
/// collections on two cores, the gateway's broker connection received the flood faster than it could hand it on, and
/// the heap ran out before the memory checks could act (a machine that busy is not what they measure).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrokerAloneCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker: alone";
}

/// <summary>The lifecycle of subscriptions, channels and connections (leaving, sharing, shutdown, broker permissions and limits).</summary>
[CollectionDefinition(Name)]
public sealed class BrokerLifecycleCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker: lifecycle";
}

/// <summary>Topics and the WebSocket and long-polling transports.</summary>
[CollectionDefinition(Name)]
public sealed class BrokerStreamsCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker: topics and transports";
}

/// <summary>
/// Tests that stop, kill or restart the broker: <c>[Collection(IsolatedBrokerCollection.Name)]</c>. Their broker is a
/// private node of this collection, so they run one at a time but beside the other collections (after them, they added
/// a minute and a half to the suite).
/// </summary>
[CollectionDefinition(Name)]
public sealed class IsolatedBrokerCollection : ICollectionFixture<IsolatedBrokerFixture>
{
    public const string Name = "IsolatedBroker";
}

/// <summary>
/// Tests against a three-node cluster that kill, freeze and restart its nodes: <c>[Collection(ClusterCollection.Name)]</c>.
/// One at a time, next to the shared broker's collection: the cluster's nodes are its own (ports, data, names),
/// and most of a drill is waiting for nodes to go and come back, which took a third of the suite's time alone.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<RabbitClusterFixture>
{
    public const string Name = "Cluster";
}
