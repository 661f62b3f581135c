using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Metrics;

internal static partial class MetricsLog
{
    [LoggerMessage(EventIds.ObservabilityEndpoints, LogLevel.Information, "Observability: metrics at {Metrics}, debug vars at {DebugVars}, liveness at {Live}, readiness at {Ready}", EventName = "ObservabilityEndpoints")]
    public static partial void Endpoints(ILogger logger, string metrics, string debugVars, string live, string ready);
}
