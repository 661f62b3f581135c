using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Eventsourced.Metrics;

/// <summary>
/// Every series the gateway documents (README "Metrics"), as prometheus-net counters, gauges and histograms in
/// this gateway's own <see cref="CollectorRegistry"/> (never prometheus-net's static default registry: several
/// gateways may share a process, and an application embedding one has metrics of its own). Callers use the
/// intent methods; <c>/debug/vars</c> reads the same values back. Labels are bounded: outcomes, discard reasons
/// and broker endpoints, never a queue name.
/// </summary>
internal sealed class GatewayMetrics
{
    /// <summary>The DI key of the gateway's <see cref="CollectorRegistry"/>.</summary>
    public const string RegistryKey = "Eventsourced";

    /// <summary>A publish time at most this far ahead of the gateway's clock is clock skew, recorded as zero latency.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A publish time older than this is a unit mistake (seconds in <c>timestamp_in_ms</c>, a zero-ish value),
    /// not a wait in a queue, and is not recorded.
    /// </summary>
    public static readonly TimeSpan MaxPlausibleLatency = TimeSpan.FromDays(365);

    /// <summary>Buckets of <c>eventsourced_delivery_latency_seconds</c>: 1 ms to 60 s.</summary>
    public static readonly double[] DeliveryLatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Buckets of <c>eventsourced_stream_duration_seconds</c>: 0.1 s to a day.</summary>
    public static readonly double[] StreamDurationBuckets = [0.1, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 14400, 86400];

    private readonly Gauge _streamsActive;
    private readonly Counter _streams;
    private readonly Counter _messagesDelivered;
    private readonly Counter _bytesDelivered;
    private readonly Counter _heartbeats;
    private readonly Counter _directStreams;
    private readonly Gauge _brokerConnections;
    private readonly Gauge _brokerChannels;
    private readonly Gauge _brokerBlocked;
    private readonly Counter _brokerReconnects;
    private readonly Gauge _brokerConnectionsHeld;
    private readonly Histogram _deliveryLatency;
    private readonly Histogram _streamDuration;
    private readonly Counter _latencyDiscarded;
    private readonly Counter _requeued;
    private readonly Counter _clientPublishes;
    private readonly Counter _messagesRejected;
    private readonly PerSecondCounter _deliveriesPerSecond;
    private readonly Gauge _topicsOpen;
    private readonly Counter _topicEvents;
    private readonly Counter _topicsCreated;
    private readonly Counter _topicCatchUps;
    private readonly Counter _topicSlowSubscribers;
    private readonly Counter _presenceEvents;
    private readonly Counter _connectionsRejected;
    private readonly Counter _connectionsRejectedPerClient;
    private readonly Gauge _memoryHeap;
    private readonly Gauge _memoryHeapLimit;
    private readonly Gauge _memoryAdmission;
    private readonly Gauge _tlsCertificateNotAfter;
    private readonly Gauge _tlsReloadFailing;
    private readonly CollectorRegistry _registry;

    public GatewayMetrics([FromKeyedServices(RegistryKey)] CollectorRegistry registry, TimeProvider time)
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _streamsActive = factory.CreateGauge("eventsourced_streams_active", "Open subscriptions: SSE streams, WebSockets, and long-poll subscriptions held between polls.");
        _streams = factory.CreateCounter("eventsourced_streams_total", "Subscription attempts by outcome.", "outcome");
        _messagesDelivered = factory.CreateCounter("eventsourced_messages_delivered_total", "Messages written to clients (flushed, or taken by the kernel). Acknowledged to the broker only once the client's TCP has acknowledged them: a stream cut before that counts messages that go back to their queue.");
        _bytesDelivered = factory.CreateCounter("eventsourced_bytes_delivered_total", "SSE bytes of delivered messages written to clients.");
        _heartbeats = factory.CreateCounter("eventsourced_heartbeats_total", "Heartbeat comments sent to idle streams.");
        _directStreams = factory.CreateCounter("eventsourced_direct_write_streams_total", "SSE streams written straight to the client's socket (sse.direct_writes) from their first message on.");
        _brokerConnections = factory.CreateGauge("eventsourced_broker_connections", "Broker connections up, per node.", "node");
        _brokerChannels = factory.CreateGauge("eventsourced_broker_channels", "Broker channels leased to streams, per node.", "node");
        _brokerBlocked = factory.CreateGauge(
            "eventsourced_broker_blocked",
            "Broker connections the broker blocks for a resource alarm (memory or disk), per node: their publishes (WebSocket clients', presence events) are refused until it ends.",
            "node");
        _brokerReconnects = factory.CreateCounter("eventsourced_broker_reconnects_total", "Broker connections re-established after a loss, per node.", "node");
        _brokerConnectionsHeld = factory.CreateGauge(
            "eventsourced_broker_connections_held",
            "Broker connections the gateway holds, per node, kind (subscribers: queue subscribers', what eventsourced_broker_connections counts up; streams: topics' stream consumers'; publisher: WebSocket clients' publishes and presence events) and state (up, or down: reconnecting). Streams and publisher connections are opened when first needed.",
            "node", "kind", "state");
        // The histograms appear with their first observation, as they always have: a scrape before any stream
        // ended shows no stream duration rather than a histogram of nothing.
        _deliveryLatency = factory.CreateHistogram(
            "eventsourced_delivery_latency_seconds",
            "From the message's publish time (timestamp_in_ms header, else the AMQP timestamp property, whole seconds) to the flush to the client.",
            new HistogramConfiguration { Buckets = DeliveryLatencyBuckets, SuppressInitialValue = true });
        _streamDuration = factory.CreateHistogram(
            "eventsourced_stream_duration_seconds", "How long subscriptions stayed open, in every transport (SSE, WebSocket, long-polling: from the first poll to the end of the held subscription).",
            new HistogramConfiguration { Buckets = StreamDurationBuckets, SuppressInitialValue = true });
        _latencyDiscarded = factory.CreateCounter(
            "eventsourced_delivery_latency_discarded_total",
            "Delivered messages whose publish time was not recorded as latency: reason in_future (beyond clock skew) or implausible (older than a year).",
            "reason");
        _requeued = factory.CreateCounter(
            "eventsourced_messages_requeued_total",
            "Messages given back to their queue unacknowledged: reason ack_timeout (a WebSocket client with acks=client did not acknowledge in time), poll_unacknowledged (a long-poll batch no poll acknowledged before its subscription ended: poll.hold ran out, or shutdown), ws_unacknowledged (messages a WebSocket client with acks=client had not acknowledged when its connection ended) or tcp_unacknowledged (messages written to an SSE stream or a WebSocket without acks=client that the client's TCP had not acknowledged when it ended).",
            "reason");
        _clientPublishes = factory.CreateCounter(
            "eventsourced_client_publishes_total",
            "Messages WebSocket clients asked to publish, by outcome: published (confirmed by the broker), unroutable, failed, rate_limited, refused.",
            "outcome");
        _messagesRejected = factory.CreateCounter(
            "eventsourced_messages_rejected_total",
            "Messages rejected without requeue (dead-lettered, or dropped by the broker without a dead-letter exchange), and topic events passed over: reason too_large (over queue.max_message_bytes).",
            "reason");
        _deliveriesPerSecond = new PerSecondCounter(time);
        _topicsOpen = factory.CreateGauge("eventsourced_topics_open", "Topics this instance consumes (one stream consumer each, shared by their subscribers).");
        _topicEvents = factory.CreateCounter("eventsourced_topic_events_total", "Events the topics' stream consumers received (each handed to every subscriber of its topic).");
        _topicsCreated = factory.CreateCounter("eventsourced_topics_created_total", "Topic streams this instance declared on first use.");
        _topicCatchUps = factory.CreateCounter("eventsourced_topic_catchups_total", "Topic subscribers that resumed from further back than the recent events kept in memory and read the stream first.");
        _topicSlowSubscribers = factory.CreateCounter("eventsourced_topic_slow_subscribers_total", "Topic subscribers ended because they did not keep up: further behind than the recent events in memory reach (their topics.buffer full meanwhile), or more than topics.buffer events waiting at their socket.");
        _presenceEvents = factory.CreateCounter("eventsourced_presence_events_total", "Presence events (subscribed, unsubscribed) by outcome: published to events.exchange, or dropped.", "outcome");
        _connectionsRejected = factory.CreateCounter(
            "eventsourced_connections_rejected_total",
            "Connections closed unread at a listener's cap, by listener: server (limits.max_connections, over all of server.address's addresses) or metrics (metrics.address's own cap).",
            "listener");
        _connectionsRejectedPerClient = factory.CreateCounter(
            "eventsourced_connections_rejected_per_client_total",
            "Connections closed unread on server.address because their client address (IPv4, or IPv6 network of limits.ipv6_prefix) held limits.connections_per_client already.");
        _memoryHeap = factory.CreateGauge(
            "eventsourced_memory_heap_bytes",
            "The heap as the last garbage collection left it, free space between objects included: what limits.max_memory_percent compares.");
        _memoryHeapLimit = factory.CreateGauge(
            "eventsourced_memory_heap_limit_bytes",
            "The memory the heap may use: 75% of a container's memory limit, DOTNET_GCHeapHardLimit, or the machine's memory.");
        _memoryAdmission = factory.CreateGauge(
            "eventsourced_memory_admission_bytes",
            "New subscriptions are refused (503, outcome overloaded) while eventsourced_memory_heap_bytes is above this: limits.max_memory_percent of eventsourced_memory_heap_limit_bytes; 0 when that check is off.");
        // Only with server.tls: an expiry of 0 on a gateway without a certificate would look expired to an alert.
        _tlsCertificateNotAfter = factory.CreateGauge(
            "eventsourced_tls_certificate_expiry_timestamp_seconds",
            "When the certificate server.tls serves to new connections expires (Unix time); only with server.tls.",
            new GaugeConfiguration { SuppressInitialValue = true });
        _tlsReloadFailing = factory.CreateGauge(
            "eventsourced_tls_certificate_reload_failing",
            "1 while server.tls's files have changed but cannot be loaded (a broken or mismatched pair, an expired certificate in place of a valid one) and the previous certificate is served; 0 otherwise; only with server.tls.",
            new GaugeConfiguration { SuppressInitialValue = true });
        _registry = registry;
    }

    /// <summary>Open streams, as <c>eventsourced_streams_active</c> shows them.</summary>
    public long StreamsOpen => (long)_streamsActive.Value;

    /// <summary>Messages delivered since start, as <c>eventsourced_messages_delivered_total</c> shows them.</summary>
    public long MessagesDelivered => (long)_messagesDelivered.Value;

    /// <summary>Messages delivered in the last complete second.</summary>
    public long DeliveriesLastSecond => _deliveriesPerSecond.LastSecond;

    /// <summary>Broker connections up to <paramref name="node"/>, as <c>eventsourced_broker_connections</c> shows them.</summary>
    public long ConnectionsUp(string node) => (long)_brokerConnections.WithLabels(node).Value;

    /// <summary>Channels leased on <paramref name="node"/>, as <c>eventsourced_broker_channels</c> shows them.</summary>
    public long Channels(string node) => (long)_brokerChannels.WithLabels(node).Value;

    public void StreamOpened() => _streamsActive.Inc();

    public void StreamClosed(TimeSpan duration)
    {
        _streamsActive.Dec();
        _streamDuration.Observe(Math.Max(0, duration.TotalSeconds));
    }

    public void StreamOutcome(string outcome) => _streams.WithLabels(outcome).Inc();

    public void Delivered(int messages, long bytes)
    {
        _messagesDelivered.Inc(messages);
        _bytesDelivered.Inc(bytes);
        _deliveriesPerSecond.Add(messages);
    }

    public void DeliveryLatency(TimeSpan latency, long count = 1) => _deliveryLatency.Observe(Math.Max(0, latency.TotalSeconds), count);

    /// <summary>
    /// The latency of one message flushed at <paramref name="flushed"/>. Skew up to <see cref="MaxClockSkew"/>
    /// counts as zero; a publish time further ahead, or older than <see cref="MaxPlausibleLatency"/>, is
    /// counted in <c>eventsourced_delivery_latency_discarded_total</c> instead (the histogram's sum stays meaningful).
    /// </summary>
    /// <param name="count">Messages of the same publish time written at the same moment (a topic's event to many subscribers).</param>
    public void DeliveryLatency(MessageTimestamp published, DateTimeOffset flushed, long count = 1)
    {
        if (!published.IsPresent)
        {
            return;
        }

        var milliseconds = flushed.ToUnixTimeMilliseconds() - published.UnixMilliseconds;
        if (milliseconds < -(long)MaxClockSkew.TotalMilliseconds)
        {
            _latencyDiscarded.WithLabels(LatencyDiscardReasons.InFuture).Inc(count);
        }
        else if (milliseconds > (long)MaxPlausibleLatency.TotalMilliseconds)
        {
            _latencyDiscarded.WithLabels(LatencyDiscardReasons.Implausible).Inc(count);
        }
        else
        {
            DeliveryLatency(TimeSpan.FromMilliseconds(Math.Max(0, milliseconds)), count);
        }
    }

    public void Heartbeat() => _heartbeats.Inc();

    /// <summary>A stream's writes now go straight to its socket (<c>sse.direct_writes</c>).</summary>
    public void DirectWriteStream() => _directStreams.Inc();

    /// <summary><paramref name="messages"/> went back to their queue unacknowledged for <paramref name="reason"/> (<see cref="RequeueReasons"/>).</summary>
    public void Requeued(string reason, int messages) => _requeued.WithLabels(reason).Inc(messages);

    /// <summary>A client's publish ended with <paramref name="outcome"/> (<see cref="PublishOutcomes"/>).</summary>
    public void ClientPublish(string outcome) => _clientPublishes.WithLabels(outcome).Inc();

    public void TopicOpened() => _topicsOpen.Inc();

    public void TopicClosed() => _topicsOpen.Dec();

    public void TopicEvent() => _topicEvents.Inc();

    public void TopicCreated() => _topicsCreated.Inc();

    public void TopicCatchUp() => _topicCatchUps.Inc();

    public void TopicSlowSubscriber() => _topicSlowSubscribers.Inc();

    public void PresenceEvent(string outcome) => _presenceEvents.WithLabels(outcome).Inc();

    public void MessageRejected(string reason) => _messagesRejected.WithLabels(reason).Inc();

    /// <summary>A connection closed at the cap of <paramref name="listener"/> (<see cref="ConnectionListeners"/>).</summary>
    public void ConnectionRejected(string listener) => _connectionsRejected.WithLabels(listener).Inc();

    /// <summary>A connection closed at <c>limits.connections_per_client</c>.</summary>
    public void ConnectionRejectedPerClient() => _connectionsRejectedPerClient.Inc();

    /// <summary>Connections closed at the cap of <paramref name="listener"/> since start, as the counter shows them.</summary>
    public long ConnectionsRejected(string listener) => (long)_connectionsRejected.WithLabels(listener).Value;

    /// <summary>
    /// Creates the labelled series at zero (every outcome, both discard reasons, every configured node), so that a
    /// scrape shows a node that never connected and <c>rate()</c> sees each counter from its start. The unlabelled
    /// counters and gauges exist at zero from construction.
    /// </summary>
    public void DeclareSeries(IEnumerable<string> brokerNodes)
    {
        ArgumentNullException.ThrowIfNull(brokerNodes);
        foreach (var outcome in StreamOutcomes.All)
        {
            _streams.WithLabels(outcome).Publish();
        }

        foreach (var reason in RequeueReasons.All)
        {
            _requeued.WithLabels(reason).Publish();
        }

        foreach (var outcome in PublishOutcomes.All)
        {
            _clientPublishes.WithLabels(outcome).Publish();
        }

        _latencyDiscarded.WithLabels(LatencyDiscardReasons.InFuture).Publish();
        _latencyDiscarded.WithLabels(LatencyDiscardReasons.Implausible).Publish();
        foreach (var outcome in Presence.PresenceOutcomes.All)
        {
            _presenceEvents.WithLabels(outcome).Publish();
        }

        _messagesRejected.WithLabels(MessageRejectReasons.TooLarge).Publish();
        _connectionsRejected.WithLabels(ConnectionListeners.Server).Publish();
        _connectionsRejected.WithLabels(ConnectionListeners.Metrics).Publish();
        foreach (var node in brokerNodes.Distinct(StringComparer.Ordinal))
        {
            _brokerConnections.WithLabels(node).Publish();
            _brokerChannels.WithLabels(node).Publish();
            _brokerBlocked.WithLabels(node).Publish();
            _brokerReconnects.WithLabels(node).Publish();
        }
    }

    /// <summary>
    /// Reads the heap and its limit at every scrape into <c>eventsourced_memory_*</c>, the same numbers memory admission
    /// compares (<see cref="Limits.MemoryAdmission"/>), so that an alert can see the heap approach the point where new
    /// subscriptions are refused instead of only the refusals.
    /// </summary>
    /// <param name="maxMemoryPercent"><c>limits.max_memory_percent</c>; 0: admission is off.</param>
    /// <param name="read">The heap's size and the memory it may use; the last collection's by default.</param>
    public void WatchMemory(int maxMemoryPercent, Func<(long Heap, long Limit)>? read = null)
    {
        read ??= static () =>
        {
            var info = GC.GetGCMemoryInfo();
            return (info.HeapSizeBytes, info.TotalAvailableMemoryBytes);
        };
        _registry.AddBeforeCollectCallback(() =>
        {
            var (heap, limit) = read();
            _memoryHeap.Set(heap);
            _memoryHeapLimit.Set(limit);
            _memoryAdmission.Set(maxMemoryPercent <= 0 ? 0 : Math.Floor(limit * (double)maxMemoryPercent / 100));
        });
    }

    /// <summary>
    /// Reads the broker connections at every scrape into <c>eventsourced_broker_connections_held</c>: for each node
    /// (the configured ones, and any other <paramref name="read"/> names) and kind, how many are up and how many
    /// down, zero where there are none, so that a connection that stays down can be alerted on whatever its kind.
    /// </summary>
    /// <param name="brokerNodes">The configured nodes, shown at zero before any connection to them exists.</param>
    /// <param name="read">Every connection the gateway holds: its node, kind (<see cref="ConnectionKinds"/>) and whether it is up.</param>
    public void WatchConnections(IEnumerable<string> brokerNodes, Func<IEnumerable<(string Node, string Kind, bool Up)>> read)
    {
        ArgumentNullException.ThrowIfNull(brokerNodes);
        ArgumentNullException.ThrowIfNull(read);
        var nodes = brokerNodes.Distinct(StringComparer.Ordinal).ToArray();
        var lockObject = new object();
        _registry.AddBeforeCollectCallback(() =>
        {
            var counts = new Dictionary<(string Node, string Kind, string State), int>();
            foreach (var node in nodes)
            {
                foreach (var kind in ConnectionKinds.All)
                {
                    counts[(node, kind, ConnectionStates.Up)] = 0;
                    counts[(node, kind, ConnectionStates.Down)] = 0;
                }
            }

            foreach (var (node, kind, up) in read())
            {
                var key = (node, kind, up ? ConnectionStates.Up : ConnectionStates.Down);
                counts[key] = counts.GetValueOrDefault(key) + 1;
                var other = (node, kind, up ? ConnectionStates.Down : ConnectionStates.Up);
                counts.TryAdd(other, 0);
            }

            // Scrapes may run at once: each sets every series it knows of, from one reading.
            lock (lockObject)
            {
                foreach (var ((node, kind, state), count) in counts)
                {
                    _brokerConnectionsHeld.WithLabels(node, kind, state).Set(count);
                }
            }
        });
    }

    /// <summary>Connections of <paramref name="kind"/> to <paramref name="node"/> in <paramref name="state"/>, as the last scrape set them.</summary>
    public long ConnectionsHeld(string node, string kind, string state) => (long)_brokerConnectionsHeld.WithLabels(node, kind, state).Value;

    public void ConnectionUp(string node) => _brokerConnections.WithLabels(node).Inc();

    public void ConnectionDown(string node) => _brokerConnections.WithLabels(node).Dec();

    public void Reconnected(string node) => _brokerReconnects.WithLabels(node).Inc();

    public void ChannelLeased(string node) => _brokerChannels.WithLabels(node).Inc();

    public void ChannelReleased(string node) => _brokerChannels.WithLabels(node).Dec();

    /// <summary>The certificate <c>server.tls</c> now serves to new connections expires at <paramref name="notAfter"/>.</summary>
    public void TlsCertificateInUse(DateTime notAfter) =>
        _tlsCertificateNotAfter.Set(new DateTimeOffset(notAfter.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);

    /// <summary>Whether <c>server.tls</c>'s changed files failed to load (the previous certificate stays).</summary>
    public void TlsReloadFailing(bool failing) => _tlsReloadFailing.Set(failing ? 1 : 0);

    public void ConnectionBlocked(string node) => _brokerBlocked.WithLabels(node).Inc();

    public void ConnectionUnblocked(string node) => _brokerBlocked.WithLabels(node).Dec();
}

/// <summary>The fixed set of <c>outcome</c> label values of <c>eventsourced_streams_total</c>.</summary>
internal static class StreamOutcomes
{
    public const string Streamed = "streamed";
    public const string BadRequest = "bad_request";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string Busy = "busy";
    public const string BrokerUnavailable = "broker_unavailable";
    public const string BrokerError = "broker_error";
    public const string QueueRefused = "queue_refused";
    public const string RateLimited = "rate_limited";

    /// <summary>401: no token, or one that is malformed, expired or not signed by a configured key (<c>auth</c>).</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>403: a valid token that does not permit what it asks for, a page of an origin not allowed, or no more topics may be created.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>404: a topic that does not exist and may not be created (<c>topics.create</c>).</summary>
    public const string NotFound = "not_found";

    /// <summary>409: a topic's name is a queue that is no stream.</summary>
    public const string Conflict = "conflict";

    /// <summary>503: the gateway's heap is near the memory it may use (<c>limits.max_memory_percent</c>).</summary>
    public const string Overloaded = "overloaded";

    /// <summary>503: no key set could be fetched from <c>auth.jwt.jwks_url</c> yet, so no RSA or EC token can be verified.</summary>
    public const string KeysUnavailable = "keys_unavailable";

    public static IReadOnlyList<string> All { get; } = [Streamed, BadRequest, MethodNotAllowed, Busy, BrokerUnavailable, BrokerError, Unauthorized, Forbidden, QueueRefused, RateLimited, NotFound, Conflict, Overloaded, KeysUnavailable];
}

/// <summary>The <c>reason</c> label values of <c>eventsourced_messages_requeued_total</c>.</summary>
internal static class RequeueReasons
{
    public const string AckTimeout = "ack_timeout";
    public const string PollUnacknowledged = "poll_unacknowledged";
    public const string WsUnacknowledged = "ws_unacknowledged";
    public const string TcpUnacknowledged = "tcp_unacknowledged";

    public static IReadOnlyList<string> All { get; } = [AckTimeout, PollUnacknowledged, WsUnacknowledged, TcpUnacknowledged];
}

/// <summary>The <c>outcome</c> label values of <c>eventsourced_client_publishes_total</c>.</summary>
internal static class PublishOutcomes
{
    public const string Published = "published";
    public const string Unroutable = "unroutable";
    public const string Failed = "failed";
    public const string RateLimited = "rate_limited";
    public const string Refused = "refused";

    public static IReadOnlyList<string> All { get; } = [Published, Unroutable, Failed, RateLimited, Refused];
}

/// <summary>The <c>reason</c> label values of <c>eventsourced_delivery_latency_discarded_total</c>.</summary>
internal static class LatencyDiscardReasons
{
    public const string InFuture = "in_future";
    public const string Implausible = "implausible";
}

/// <summary>The <c>reason</c> label values of <c>eventsourced_messages_rejected_total</c>.</summary>
internal static class MessageRejectReasons
{
    public const string TooLarge = "too_large";
}

/// <summary>The <c>kind</c> label of <c>eventsourced_broker_connections_held</c>.</summary>
internal static class ConnectionKinds
{
    /// <summary>The queue subscribers' connections (<c>... #N</c>), the ones <c>/readyz</c> and <c>eventsourced_broker_connections</c> count.</summary>
    public const string Subscribers = "subscribers";

    /// <summary>The topics' stream consumers' connections (<c>... streams #N</c>).</summary>
    public const string Streams = "streams";

    /// <summary>The gateway's publishing connections (<c>... publisher #N</c>): WebSocket clients' publishes, presence events.</summary>
    public const string Publisher = "publisher";

    public static IReadOnlyList<string> All { get; } = [Subscribers, Streams, Publisher];
}

/// <summary>The <c>state</c> label of <c>eventsourced_broker_connections_held</c>.</summary>
internal static class ConnectionStates
{
    public const string Up = "up";
    public const string Down = "down";
}

/// <summary>The <c>listener</c> label of <c>eventsourced_connections_rejected_total</c>.</summary>
internal static class ConnectionListeners
{
    /// <summary><c>server.address</c>, capped by <c>limits.max_connections</c>.</summary>
    public const string Server = "server";

    /// <summary><c>metrics.address</c>, capped on its own.</summary>
    public const string Metrics = "metrics";
}
