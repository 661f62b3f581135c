using System.Diagnostics.Metrics;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// Logs the HTTP/2 connections Kestrel ends because their client made it queue more output than it allows (streams
/// opened and reset at once, "rapid reset", or held back by flow control) as the gateway's refusals that repeat are
/// logged: the first at once (event 115), then their count once per 10 s (event 116). Kestrel's own lines for them
/// (category <see cref="KestrelCategory"/>, critical, several per connection) are filtered out of the log: any client
/// that reaches an HTTPS <c>server.address</c> could otherwise write critical lines as fast as it opens connections.
/// Counted from the <c>error.type</c> of Kestrel's <c>kestrel.connection.duration</c> of this application's meters only.
/// </summary>
internal sealed class Http2AbortsLog : IDisposable
{
    /// <summary>Kestrel's log category of HTTP/2 events; its critical ones are the connections it ends for their output queue.</summary>
    public const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel.Http2";

    private const string DurationInstrument = "kestrel.connection.duration";
    private const string ErrorType = "error.type";

    /// <summary>Kestrel's <c>error.type</c> of the ends a client sets off at will (the first error a connection records wins), and what the gateway's line says of each.</summary>
    private static readonly Dictionary<string, string> Reasons = new(StringComparer.Ordinal)
    {
        ["stream_reset_limit_exceeded"] = "opened and reset streams faster than they could be answered (rapid reset)",
        ["output_queue_size_exceeded"] = "made more output wait to be sent than Kestrel allows",
        ["flow_control_queue_size_exceeded"] = "kept more output waiting for flow control than Kestrel allows",
    };

    private readonly MeterListener _listener = new();
    private readonly LogDigest _digest;

    public Http2AbortsLog(IMeterFactory meterFactory, ILoggerFactory loggerFactory, TimeProvider time)
    {
        var logger = loggerFactory.CreateLogger("Eventsourced");
        _digest = new LogDigest(
            LogDigest.RefusalInterval,
            time,
            reason => HostingLog.Http2ConnectionsAborted(logger, reason),
            (reason, count, over) => HostingLog.Http2ConnectionsAbortedRepeated(logger, count, (int)Math.Round(over.TotalSeconds), reason));
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == FrameworkMetersExport.KestrelMeterName
                && ReferenceEquals(instrument.Meter.Scope, meterFactory)
                && instrument.Name == DurationInstrument)
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<double>(static (_, _, tags, state) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == ErrorType && tag.Value is string error && Reasons.TryGetValue(error, out var reason))
                {
                    ((Http2AbortsLog)state!)._digest.Add(reason);
                    return;
                }
            }
        });
        _listener.Start();
    }

    /// <summary>
    /// Whether a level of <see cref="KestrelCategory"/> is logged at <paramref name="minimum"/>: not its critical lines,
    /// which a client sets off at will (this class logs those connections instead). Kestrel's two other critical events
    /// there, an internal fault of its own, go with them; the connection they end is ended all the same.
    /// </summary>
    public static bool KestrelLevelLogged(LogLevel level, LogLevel minimum) => level >= minimum && level != LogLevel.Critical;

    public void Dispose()
    {
        _listener.Dispose();
        _digest.Dispose();
    }
}
