using Eventsourced.Testing.Brokers;
using Eventsourced.Testing.Clusters;

namespace Eventsourced.IntegrationTests.Infrastructure;

// xunit finds collection definitions only in the test assembly itself, so they live here and the
// fixtures in Eventsourced.Testing.

/// <summary>The collection of tests that share one broker: <c>[Collection(BrokerCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker";
}

/// <summary>
/// Tests that stop, kill or restart the broker: <c>[Collection(IsolatedBrokerCollection.Name)]</c>.
/// They run one at a time, after and apart from every parallel collection.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
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
