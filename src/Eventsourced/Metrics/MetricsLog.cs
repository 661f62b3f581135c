using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Metrics;

internal static partial class MetricsLog
{
    [LoggerMessage(EventIds.ObservabilityEndpoints, LogLevel.Information, "Observability: metrics at {Metrics}, debug vars at {DebugVars}, liveness at {Live}, readiness at {Ready}", EventName = "ObservabilityEndpoints")]
    public static partial void Endpoints(ILogger logger, string metrics, string debugVars, string live, string ready);

    [LoggerMessage(EventIds.MetricsCallbackFailed, LogLevel.Warning, "An observable instrument failed while /metrics was collected: {Reason}", EventName = "MetricsCallbackFailed")]
    public static partial void ObservableCallbackFailed(ILogger logger, string reason);

    [LoggerMessage(EventIds.MetricsNameConflict, LogLevel.Warning, "Instrument {Instrument} of meter {Meter} maps to the Prometheus name {Name} of another type; it is left out of /metrics", EventName = "MetricsNameConflict")]
    public static partial void NameConflict(ILogger logger, string meter, string instrument, string name);
}
