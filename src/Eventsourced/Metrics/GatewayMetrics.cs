using System.Diagnostics.Metrics;

namespace Eventsourced.Metrics;

/// <summary>
/// Every instrument the gateway publishes, on one <see cref="Meter"/> named <see cref="MeterName"/>.
/// Names are lowercase and dotted; the Prometheus exposition turns <c>eventsourced.streams.active</c>
/// into <c>eventsourced_streams_active</c>, adds <c>_total</c> to counters and the unit suffix.
/// Labels are bounded: outcomes and broker endpoints, never a queue name.
/// </summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Eventsourced";

    /// <summary>A publish time at most this far ahead of the gateway's clock is clock skew, recorded as zero latency.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A publish time older than this is a unit mistake (seconds in <c>timestamp_in_ms</c>, a zero-ish value),
    /// not a wait in a queue, and is not recorded.
    /// </summary>
    public static readonly TimeSpan MaxPlausibleLatency = TimeSpan.FromDays(365);

    private readonly UpDownCounter<long> _streamsActive;
    private readonly Counter<long> _streams;
    private readonly Counter<long> _messagesDelivered;
    private readonly Counter<long> _bytesDelivered;
    private readonly Counter<long> _heartbeats;
    private readonly UpDownCounter<long> _brokerConnections;
    private readonly UpDownCounter<long> _brokerChannels;
    private readonly Counter<long> _brokerReconnects;
    private readonly Histogram<double> _deliveryLatency;
    private readonly Histogram<double> _streamDuration;
    private readonly Counter<long> _latencyDiscarded;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _streamsActive = meter.CreateUpDownCounter<long>("eventsourced.streams.active", "{stream}", "Open SSE streams.");
        _streams = meter.CreateCounter<long>("eventsourced.streams", "{stream}", "Subscription attempts by outcome.");
        _messagesDelivered = meter.CreateCounter<long>("eventsourced.messages.delivered", "{message}", "Messages written and flushed to clients.");
        _bytesDelivered = meter.CreateCounter<long>("eventsourced.bytes.delivered", "By", "SSE bytes of delivered messages written to clients.");
        _heartbeats = meter.CreateCounter<long>("eventsourced.heartbeats", "{heartbeat}", "Heartbeat comments sent to idle streams.");
        _brokerConnections = meter.CreateUpDownCounter<long>("eventsourced.broker.connections", "{connection}", "Broker connections up, per node.");
        _brokerChannels = meter.CreateUpDownCounter<long>("eventsourced.broker.channels", "{channel}", "Broker channels leased to streams, per node.");
        _brokerReconnects = meter.CreateCounter<long>("eventsourced.broker.reconnects", "{reconnect}", "Broker connections re-established after a loss.");
        _deliveryLatency = meter.CreateHistogram<double>(
            "eventsourced.delivery.latency", "s", "From the message's publish time (timestamp_in_ms header, else the AMQP timestamp property, whole seconds) to the flush to the client.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        _streamDuration = meter.CreateHistogram<double>(
            "eventsourced.stream.duration", "s", "How long SSE streams stayed open.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 86400] });
        _latencyDiscarded = meter.CreateCounter<long>(
            "eventsourced.delivery.latency.discarded", "{message}",
            "Delivered messages whose publish time was not recorded as latency: reason in_future (beyond clock skew) or implausible (older than a year).");
    }

    public void StreamOpened() => _streamsActive.Add(1);

    public void StreamClosed(TimeSpan duration)
    {
        _streamsActive.Add(-1);
        _streamDuration.Record(duration.TotalSeconds);
    }

    public void StreamOutcome(string outcome)
    {
        if (_streams.Enabled)
        {
            _streams.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    public void Delivered(int messages, long bytes)
    {
        _messagesDelivered.Add(messages);
        _bytesDelivered.Add(bytes);
    }

    public void DeliveryLatency(TimeSpan latency)
    {
        if (_deliveryLatency.Enabled)
        {
            _deliveryLatency.Record(Math.Max(0, latency.TotalSeconds));
        }
    }

    /// <summary>
    /// The latency of one message flushed at <paramref name="flushed"/>. Skew up to <see cref="MaxClockSkew"/>
    /// counts as zero; a publish time further ahead, or older than <see cref="MaxPlausibleLatency"/>, is
    /// counted in <c>eventsourced.delivery.latency.discarded</c> instead (the histogram's sum stays meaningful).
    /// </summary>
    public void DeliveryLatency(MessageTimestamp published, DateTimeOffset flushed)
    {
        if (!published.IsPresent || (!_deliveryLatency.Enabled && !_latencyDiscarded.Enabled))
        {
            return;
        }

        var milliseconds = flushed.ToUnixTimeMilliseconds() - published.UnixMilliseconds;
        if (milliseconds < -(long)MaxClockSkew.TotalMilliseconds)
        {
            _latencyDiscarded.Add(1, new KeyValuePair<string, object?>("reason", LatencyDiscardReasons.InFuture));
        }
        else if (milliseconds > (long)MaxPlausibleLatency.TotalMilliseconds)
        {
            _latencyDiscarded.Add(1, new KeyValuePair<string, object?>("reason", LatencyDiscardReasons.Implausible));
        }
        else
        {
            DeliveryLatency(TimeSpan.FromMilliseconds(Math.Max(0, milliseconds)));
        }
    }

    public void Heartbeat() => _heartbeats.Add(1);

    /// <summary>
    /// Creates the series at zero (the unlabelled ones, every outcome, every configured node), so that a scrape shows a
    /// node that never connected and <c>rate()</c> sees each counter from its start. Call once listeners are up.
    /// </summary>
    public void DeclareSeries(IEnumerable<string> brokerNodes)
    {
        ArgumentNullException.ThrowIfNull(brokerNodes);
        _streamsActive.Add(0);
        _messagesDelivered.Add(0);
        _bytesDelivered.Add(0);
        _heartbeats.Add(0);
        foreach (var outcome in StreamOutcomes.All)
        {
            _streams.Add(0, new KeyValuePair<string, object?>("outcome", outcome));
        }

        _latencyDiscarded.Add(0, new KeyValuePair<string, object?>("reason", LatencyDiscardReasons.InFuture));
        _latencyDiscarded.Add(0, new KeyValuePair<string, object?>("reason", LatencyDiscardReasons.Implausible));
        foreach (var node in brokerNodes.Distinct(StringComparer.Ordinal))
        {
            _brokerConnections.Add(0, Node(node));
            _brokerChannels.Add(0, Node(node));
            _brokerReconnects.Add(0, Node(node));
        }
    }

    public void ConnectionUp(string node) => _brokerConnections.Add(1, Node(node));

    public void ConnectionDown(string node) => _brokerConnections.Add(-1, Node(node));

    public void Reconnected(string node) => _brokerReconnects.Add(1, Node(node));

    public void ChannelLeased(string node) => _brokerChannels.Add(1, Node(node));

    public void ChannelReleased(string node) => _brokerChannels.Add(-1, Node(node));

    private static KeyValuePair<string, object?> Node(string node) => new("node", node);
}

/// <summary>The fixed set of <c>outcome</c> label values of <c>eventsourced.streams</c>.</summary>
internal static class StreamOutcomes
{
    public const string Streamed = "streamed";
    public const string BadRequest = "bad_request";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string Busy = "busy";
    public const string BrokerUnavailable = "broker_unavailable";
    public const string BrokerError = "broker_error";

    public static IReadOnlyList<string> All { get; } = [Streamed, BadRequest, MethodNotAllowed, Busy, BrokerUnavailable, BrokerError];
}

/// <summary>The <c>reason</c> label values of <c>eventsourced.delivery.latency.discarded</c>.</summary>
internal static class LatencyDiscardReasons
{
    public const string InFuture = "in_future";
    public const string Implausible = "implausible";
}
