using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Metrics;

internal static partial class MetricsLog
{
    [LoggerMessage(EventIds.ObservabilityEndpoints, LogLevel.Information, "Observability: metrics at {Metrics}, debug vars at {DebugVars}, liveness at {Live}, readiness at {Ready}", EventName = "ObservabilityEndpoints")]
    public static partial void Endpoints(ILogger logger, string metrics, string debugVars, string live, string ready);

    [LoggerMessage(EventIds.ObservabilityNotMapped, LogLevel.Information, "Observability endpoints not served: the application did not call MapEventsourcedObservability(), so metrics.path, metrics.debug_vars, health.live and health.ready answer nothing here", EventName = "ObservabilityNotMapped")]
    public static partial void NotMapped(ILogger logger);
}
