using Eventsourced.Broker;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Eventsourced.Health;

/// <summary>
/// Readiness: healthy while at least one broker connection is up (a stream can be served), unhealthy with
/// the nodes' state otherwise, and unhealthy once shutdown has begun so that a load balancer drains first.
/// </summary>
internal sealed class BrokerReadinessCheck(BrokerPool pool, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public const string Name = "broker";

    /// <summary>The tag of the checks <c>health.ready</c> runs; <c>health.live</c> runs none.</summary>
    public const string Tag = "ready";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("gateway is shutting down"));
        }

        var slots = pool.Slots;
        var up = slots.Count(s => s.IsUp);
        var nodes = string.Join(", ", slots
            .GroupBy(s => s.Node, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Count(s => s.IsUp)}/{g.Count()} up"));
        return Task.FromResult(up > 0
            ? HealthCheckResult.Healthy($"{up} of {slots.Count} broker connections up ({nodes})")
            : HealthCheckResult.Unhealthy(slots.Count == 0 ? "no broker connection yet" : $"no broker connection is up ({nodes})"));
    }
}
