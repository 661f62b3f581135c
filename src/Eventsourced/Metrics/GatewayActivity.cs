using System.Diagnostics.Metrics;

namespace Eventsourced.Metrics;

/// <summary>
/// Listens to this gateway's own meter for <c>/debug/vars</c>: open streams, messages delivered in total and
/// in the last second. Independent of <c>/metrics</c>, which may be switched off.
/// </summary>
internal sealed class GatewayActivity : IDisposable
{
    private const string StreamsActive = "eventsourced.streams.active";
    private const string MessagesDelivered = "eventsourced.messages.delivered";

    private readonly MeterListener _listener;
    private readonly PerSecondCounter _perSecond;
    private long _streams;
    private long _delivered;

    public GatewayActivity(IMeterFactory meterFactory, TimeProvider time)
    {
        _perSecond = new PerSecondCounter(time);
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == GatewayMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory)
                    && instrument.Name is StreamsActive or MessagesDelivered)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    public long StreamsOpen => Interlocked.Read(ref _streams);

    public long MessagesDeliveredTotal => Interlocked.Read(ref _delivered);

    public long DeliveriesLastSecond => _perSecond.LastSecond;

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (instrument.Name == StreamsActive)
        {
            Interlocked.Add(ref _streams, measurement);
        }
        else
        {
            Interlocked.Add(ref _delivered, measurement);
            _perSecond.Add(measurement);
        }
    }
}
