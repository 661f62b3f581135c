using Xunit;

namespace Eventsourced.Testing.Clusters;

/// <summary>
/// A three-node <see cref="RabbitCluster"/> for a test collection (define the collection, non-parallel, in
/// the test assembly). Tests begin with <see cref="EnsureHealthyAsync"/>, so a drill that leaves a node down
/// or frozen does not break the next test. Without RabbitMQ installed every test of the collection fails,
/// saying so: cluster tests never skip.
/// </summary>
public sealed class RabbitClusterFixture : IAsyncLifetime
{
    private RabbitCluster? _cluster;

    public RabbitCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster fixture is not initialized.");

    /// <summary>See <see cref="RabbitCluster.EnsureHealthyAsync"/>.</summary>
    public Task EnsureHealthyAsync(CancellationToken cancellationToken = default) => Cluster.EnsureHealthyAsync(cancellationToken);

    public async Task InitializeAsync()
    {
        try
        {
            _cluster = await RabbitCluster.StartAsync();
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException(
                "NO RABBITMQ CLUSTER FOR THE CLUSTER TESTS (they fail rather than skip without one): three rabbitmq-server "
                + $"processes could not be started and joined: {ex.Message}\n"
                + "Fix: install Debian's rabbitmq-server (build/ci-deps.sh and `make test` do that as root); the cluster "
                + "always runs as processes, whatever EVENTSOURCED_TEST_BROKER says.", ex);
        }
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
