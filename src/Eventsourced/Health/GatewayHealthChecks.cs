using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Eventsourced.Health;

/// <summary>
/// The checks <c>health.live</c> and <c>health.ready</c> run, apart from the application's: registered in the application's
/// <see cref="HealthCheckService"/>, the broker check also ran in every health endpoint of an application embedding the
/// gateway that maps one without a predicate (<c>app.MapHealthChecks("/healthz")</c>), whose liveness then failed while
/// the broker was down. Runs the broker check when the predicate takes it (<see cref="BrokerReadinessCheck.Tag"/>).
/// </summary>
internal sealed class GatewayHealthChecks(BrokerReadinessCheck broker) : HealthCheckService
{
    private static readonly HealthCheckRegistration Registration =
        new(BrokerReadinessCheck.Name, _ => throw new UnreachableException(), failureStatus: null, tags: [BrokerReadinessCheck.Tag]);

    public override async Task<HealthReport> CheckHealthAsync(Func<HealthCheckRegistration, bool>? predicate, CancellationToken cancellationToken = default)
    {
        var entries = new Dictionary<string, HealthReportEntry>(StringComparer.OrdinalIgnoreCase);
        var started = Stopwatch.GetTimestamp();
        if (predicate?.Invoke(Registration) ?? true)
        {
            var result = await broker.CheckHealthAsync(new HealthCheckContext { Registration = Registration }, cancellationToken);
            entries[Registration.Name] = new HealthReportEntry(
                result.Status, result.Description, Stopwatch.GetElapsedTime(started), result.Exception, result.Data, Registration.Tags);
        }

        return new HealthReport(entries, Stopwatch.GetElapsedTime(started));
    }
}
