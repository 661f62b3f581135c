using Xunit.Abstractions;

[assembly: TestCollectionOrderer(
    "Eventsourced.IntegrationTests.Infrastructure.LongestFirstCollectionOrderer", "Eventsourced.IntegrationTests")]

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>
/// Starts the collections that take longest first. xunit 2.9's default (conservative) parallel algorithm gives each
/// collection one of maxParallelThreads slots for its whole run, in the orderer's order, so a long collection that
/// happens to come late runs on alone at the end: in a clean-clone CI run the cluster's (about 12 minutes with its
/// three nodes' start) got its slot at 1.7 minutes, after a short one, and ended the parallel part at 15 minutes
/// while the other slots sat idle for the last 2. Longest first is the usual answer to that scheduling problem
/// (the classic LPT rule); xunit has no orderer of this kind, so it is written here. The list holds the collections
/// by their time in CI runs (the cluster's drills, then the shared broker's four, then the private node's); every
/// other collection (a class's own) comes after them by name, and the one that runs alone keeps running last.
/// </summary>
public sealed class LongestFirstCollectionOrderer : ITestCollectionOrderer
{
    private static readonly string[] Longest =
    [
        ClusterCollection.Name,
        BrokerLifecycleCollection.Name,
        BrokerStreamsCollection.Name,
        BrokerCollection.Name,
        BrokerLoadCollection.Name,
        IsolatedBrokerCollection.Name,
    ];

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections
            .OrderBy(c => Rank(c.DisplayName))
            .ThenBy(c => c.DisplayName, StringComparer.Ordinal);

    internal static int Rank(string displayName)
    {
        var index = Array.IndexOf(Longest, displayName);
        return index < 0 ? Longest.Length : index;
    }
}
