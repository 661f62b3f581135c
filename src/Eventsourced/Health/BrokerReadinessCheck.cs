using Eventsourced.Broker;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Eventsourced.Hosting;

namespace Eventsourced.Health;

/// <summary>
/// Readiness: healthy while a connection to every node is up, degraded (still 200) while some node has none
/// but another can serve a stream, unhealthy with the nodes' state when none is up, and unhealthy once
/// shutdown has begun so that a load balancer drains first. Nodes are numbered in the order of the distinct
/// addresses of <c>broker.node</c>; their addresses are for the log and <c>/metrics</c>.
/// </summary>
internal sealed class BrokerReadinessCheck(BrokerPool pool, ShutdownDrain drain) : IHealthCheck
{
    public const string Name = "broker";

    /// <summary>The tag of the checks <c>health.ready</c> runs; <c>health.live</c> runs none.</summary>
    public const string Tag = "ready";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (drain.Draining.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("gateway is shutting down"));
        }

        var slots = pool.Slots;
        var up = slots.Count(s => s.IsUp);
        // Nodes by number (the first slots are broker.node's, in its order), not by address: /readyz answers anyone
        // who reaches the gateway, also where metrics.address and metrics.token keep /metrics (which names them) apart.
        var nodes = string.Join(", ", slots
            .GroupBy(s => s.Node, StringComparer.Ordinal)
            .Select((g, i) => $"node {i + 1} {g.Count(s => s.IsUp)}/{g.Count()} up"));
        if (up == 0)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(slots.Count == 0 ? "no broker connection yet" : $"no broker connection is up ({nodes})"));
        }

        // Still ready (200): new subscriptions go to the nodes that are up. Degraded says that some are not.
        var down = slots.GroupBy(s => s.Node, StringComparer.Ordinal).Count(g => !g.Any(s => s.IsUp));
        return Task.FromResult(down == 0
            ? HealthCheckResult.Healthy($"{up} of {slots.Count} broker connections up ({nodes})")
            : HealthCheckResult.Degraded($"{up} of {slots.Count} broker connections up, {down} node(s) down ({nodes})"));
    }
}
