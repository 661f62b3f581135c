using System.Diagnostics.Metrics;
using System.Globalization;
using Eventsourced.Limits;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// Logs the connections Kestrel closes at <c>limits.max_connections</c> as the gateway's refusals that repeat are
/// logged: the first at once (event 111), then their count once per 10 s (event 112). Kestrel's own line per closed
/// connection (category <see cref="KestrelCategory"/>, a warning) is filtered out of the log: a client that holds
/// the connections the cap allows could otherwise write a warning per connection it opens, as fast as it opens
/// them. Counted from Kestrel's <c>kestrel.rejected_connections</c> of this application's meters only. Each closed
/// connection also counts in <c>eventsourced_connections_rejected_total</c> by listener: Kestrel's gauge of them counts
/// only what one bound address refuses, not what the listener's <see cref="ConnectionGate"/> closes.
/// </summary>
internal sealed class RejectedConnectionsLog : IDisposable
{
    /// <summary>Kestrel's log category of connection events; its one warning is the closed connection.</summary>
    public const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel.Connections";

    /// <summary>Key of what Kestrel's cap and the clients' <see cref="ConnectionGate"/> close: <c>limits.max_connections</c>.</summary>
    public const string Clients = "kestrel.rejected_connections";

    /// <summary>Key of what the <c>metrics.address</c> listener's gate closes.</summary>
    public const string Observability = "metrics.address";

    /// <summary>Key of what the clients' gate closes at <c>limits.connections_per_client</c>.</summary>
    public const string PerClient = "limits.connections_per_client";

    private const string RejectedInstrument = Clients;

    private readonly MeterListener _listener = new();
    private readonly LogDigest _digest;
    private readonly GatewayMetrics _metrics;

    public RejectedConnectionsLog(IMeterFactory meterFactory, ILoggerFactory loggerFactory, TimeProvider time, GatewayMetrics metrics, string connections, int perClient = 0)
    {
        _metrics = metrics;
        var logger = loggerFactory.CreateLogger("Eventsourced");
        var observability = ConnectionCap.ObservabilityConnections.ToString(CultureInfo.InvariantCulture);
        var ofOneClient = string.Create(CultureInfo.InvariantCulture, $"{perClient} of one client address");
        string Open(string key) => key switch
        {
            Observability => observability,
            PerClient => ofOneClient,
            _ => connections,
        };
        _digest = new LogDigest(
            LogDigest.RefusalInterval,
            time,
            key => HostingLog.ConnectionsRejected(logger, Open(key), Limit(key)),
            (key, count, over) => HostingLog.ConnectionsRejectedRepeated(logger, count, (int)Math.Round(over.TotalSeconds), Open(key), Limit(key)));
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == FrameworkMetersExport.KestrelMeterName
                && ReferenceEquals(instrument.Meter.Scope, meterFactory)
                && instrument.Name == RejectedInstrument)
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, _, state) =>
        {
            if (value > 0)
            {
                var log = (RejectedConnectionsLog)state!;
                log._digest.Add(RejectedInstrument);
                log._metrics.ConnectionRejected(ConnectionListeners.Server);
            }
        });
        _listener.Start();
    }

    /// <summary>A connection closed by a <see cref="ConnectionGate"/> of the clients' listener (<see cref="Clients"/>, <see cref="PerClient"/>) or of <see cref="Observability"/>.</summary>
    public void Rejected(string listener)
    {
        _digest.Add(listener);
        if (listener == PerClient)
        {
            _metrics.ConnectionRejectedPerClient();
        }
        else
        {
            _metrics.ConnectionRejected(listener == Observability ? ConnectionListeners.Metrics : ConnectionListeners.Server);
        }
    }

    private static string Limit(string key) => key switch
    {
        Observability => $"metrics.address's own cap ({ConnectionCap.ObservabilityConnections})",
        PerClient => PerClient,
        _ => "limits.max_connections",
    };

    public void Dispose()
    {
        _listener.Dispose();
        _digest.Dispose();
    }

    /// <summary>Whether a level of <see cref="KestrelCategory"/> is logged at <paramref name="minimum"/>: not its warnings (closed connections).</summary>
    public static bool KestrelLevelLogged(LogLevel level, LogLevel minimum) => level >= minimum && level != LogLevel.Warning;

    public static string Describe(long? cap) => cap?.ToString(CultureInfo.InvariantCulture) ?? "no limit";
}
