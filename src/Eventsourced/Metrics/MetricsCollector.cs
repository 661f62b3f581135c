using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Eventsourced.Metrics;

/// <summary>
/// Aggregates the measurements of the exposed meters, from a <see cref="MeterListener"/>, into the
/// <see cref="MetricFamily"/> snapshots that <see cref="PrometheusTextFormat"/> renders: counters and
/// up-down counters as running sums, observable instruments and gauges as their last value, histograms as
/// buckets at the instrument's advised boundaries. It must exist before the measurements it should see:
/// an up-down counter's earlier changes are lost to a listener that starts later.
/// </summary>
/// <remarks>
/// Exposed: the gateway's meter and ASP.NET Core's Kestrel and hosting meters of this application (their
/// <see cref="Meter.Scope"/> is this application's <see cref="IMeterFactory"/>, so two gateways in one
/// process never count each other's traffic), and the process-wide runtime meter.
/// </remarks>
internal sealed class MetricsCollector : IDisposable
{
    public const string RuntimeMeterName = "System.Runtime";
    public const string KestrelMeterName = "Microsoft.AspNetCore.Server.Kestrel";
    public const string HostingMeterName = "Microsoft.AspNetCore.Hosting";

    private readonly ConcurrentDictionary<Instrument, InstrumentAggregate> _instruments = new();
    private readonly ConcurrentDictionary<string, byte> _reportedConflicts = new(StringComparer.Ordinal);
    private readonly Func<Meter, bool> _includeMeter;
    private readonly ILogger _logger;
    private readonly MeterListener _listener;
    private readonly Lock _collecting = new();
    private long _generation;

    public MetricsCollector(IMeterFactory meterFactory, ILogger<MetricsCollector> logger)
        : this(meter => IsExposed(meter, meterFactory), logger)
    {
    }

    /// <summary>Listens to the instruments of every meter <paramref name="includeMeter"/> accepts.</summary>
    internal MetricsCollector(Func<Meter, bool> includeMeter, ILogger? logger = null)
    {
        _includeMeter = includeMeter;
        _logger = logger ?? NullLogger.Instance;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out InstrumentAggregate? _),
        };
        _listener.SetMeasurementEventCallback<byte>(OnMeasurement);
        _listener.SetMeasurementEventCallback<short>(OnMeasurement);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<float>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.SetMeasurementEventCallback<decimal>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>Whether <paramref name="meter"/> is one the gateway built on <paramref name="meterFactory"/> exposes.</summary>
    public static bool IsExposed(Meter meter, IMeterFactory meterFactory) => meter.Name switch
    {
        GatewayMetrics.MeterName or KestrelMeterName or HostingMeterName => ReferenceEquals(meter.Scope, meterFactory),
        RuntimeMeterName => true,
        _ => false,
    };

    /// <summary>
    /// Polls the observable instruments and returns every family, sorted by name. Instruments whose names
    /// map to the same Prometheus name are one family (the first, by meter and instrument name, sets the
    /// type and help; one of another type is left out), and a label set appears once in a family.
    /// </summary>
    public IReadOnlyList<MetricFamily> Collect()
    {
        lock (_collecting)
        {
            var generation = Interlocked.Increment(ref _generation);
            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException ex)
            {
                // One instrument's callback failed; the others were recorded.
                MetricsLog.ObservableCallbackFailed(_logger, ex.InnerException?.Message ?? ex.Message);
            }

            var families = new Dictionary<string, (MetricType Type, string Help, Dictionary<string, MetricPoint> Points)>(StringComparer.Ordinal);
            var ordered = _instruments.Values
                .OrderBy(a => a.Instrument.Meter.Name, StringComparer.Ordinal)
                .ThenBy(a => a.Instrument.Name, StringComparer.Ordinal);
            foreach (var aggregate in ordered)
            {
                var instrument = aggregate.Instrument;
                var name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, aggregate.Type);
                if (!families.TryGetValue(name, out var family))
                {
                    var help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
                    family = (aggregate.Type, help, new Dictionary<string, MetricPoint>(StringComparer.Ordinal));
                    families.Add(name, family);
                }
                else if (family.Type != aggregate.Type)
                {
                    if (_reportedConflicts.TryAdd(name, 0))
                    {
                        MetricsLog.NameConflict(_logger, instrument.Meter.Name, instrument.Name, name);
                    }

                    continue;
                }

                foreach (var (key, point) in aggregate.Snapshot(generation))
                {
                    family.Points.TryAdd(key, point);
                }
            }

            return families
                .Where(f => f.Value.Points.Count > 0)
                .OrderBy(f => f.Key, StringComparer.Ordinal)
                .Select(f => new MetricFamily(f.Key, f.Value.Type, f.Value.Help, f.Value.Points.Values.ToArray()))
                .ToArray();
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (_includeMeter(instrument.Meter) && InstrumentAggregate.TryCreate(instrument) is { } aggregate)
        {
            _instruments[instrument] = aggregate;
            listener.EnableMeasurementEvents(instrument, aggregate);
        }
    }

    private void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct, INumberBase<T>
    {
        if (state is InstrumentAggregate aggregate)
        {
            aggregate.Record(double.CreateTruncating(measurement), tags, Volatile.Read(ref _generation));
        }
    }
}
