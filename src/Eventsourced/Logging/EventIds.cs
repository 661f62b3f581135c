namespace Eventsourced.Logging;

/// <summary>
/// Every log event id the gateway emits, in one place. Ids and names are frozen once released:
/// log pipelines filter on them.
/// </summary>
internal static class EventIds
{
    // Hosting: 1xx
    public const int Starting = 100;
    public const int Stopping = 102;
    public const int Stopped = 103;
    public const int ConfigFilesRead = 104;
    public const int HeaderIgnored = 105;
    public const int Unauthenticated = 106;
    public const int ConnectionLimit = 107;
    public const int CertificateLoaded = 108;
    public const int CertificateReloadFailed = 109;
    public const int HangupIgnored = 110;
    public const int ConnectionsRejected = 111;
    public const int ConnectionsRejectedRepeated = 112;
    public const int TopicsShareQueueNames = 113;
    public const int CertificateNotValidNow = 114;
    public const int Http2ConnectionsAborted = 115;
    public const int Http2ConnectionsAbortedRepeated = 116;
    public const int SettingNotApplied = 117;
    public const int AddedAgainNotApplied = 160;
    public const int EndpointShadowed = 118;
    public const int ConnectionLimitLowered = 119;
    public const int FileLimitLow = 120;
    public const int StreamsCutAtShutdown = 121;
    public const int DrainCutShort = 122;
    public const int BindTakesRequestValues = 123;
    public const int CannotListen = 124;
    public const int TrustedProxiesEveryone = 125;
    public const int CorsHeadersNotAllowed = 150;
    public const int ConfigurationInvalid = 151;

    // Broker: 2xx
    public const int BrokerConnected = 200;
    public const int BrokerConnectFailed = 201;
    public const int BrokerConnectionLost = 202;
    public const int BrokerConnectionClosed = 203;
    public const int BrokerPoolGrown = 204;
    public const int BrokerChannelCloseFailed = 205;
    public const int BrokerPoolExhausted = 206;
    public const int BrokerPoolExhaustedRepeated = 207;
    public const int BrokerConnectionBlocked = 208;
    public const int BrokerConnectionUnblocked = 209;
    public const int BrokerNotAnsweringCloses = 210;
    public const int BrokerGaveUpClosing = 211;

    // Streaming: 3xx
    public const int StreamOpened = 300;
    public const int StreamClosed = 301;
    public const int StreamRejected = 302;
    public const int QueueArgumentsDiffer = 303;
    public const int StreamFailed = 304;
    public const int ConsumerCancelled = 305;
    public const int BrokerRefusedSubscription = 306;
    public const int MessageTooLarge = 307;
    public const int ExchangeDiffers = 308;
    public const int SharedChannelLeaveFailed = 309;
    public const int BrokerRefusedSubscriptionRepeated = 310;
    public const int SubscriptionsRefusedForMemory = 311;
    public const int SubscriptionsRefusedForMemoryRepeated = 312;
    public const int SubscriptionsRefusedAtCap = 313;
    public const int SubscriptionsRefusedAtCapRepeated = 314;

    // WebSocket and long-poll transports: 330-349 (kept apart from other streaming ids being added alongside).
    public const int ClientPublishFailed = 330;
    public const int WebSocketClosed = 331;
    public const int ClientPublishFailedRepeated = 332;

    // Observability: 4xx
    public const int ObservabilityEndpoints = 400;
    public const int ObservabilityNotMapped = 403;
    // 401 and 402 were the hand-written exporter's (MetricsCallbackFailed, MetricsNameConflict): retired, not reused.

    // Authentication: 5xx
    public const int AuthKeys = 500;
    public const int JwksFetched = 501;
    public const int JwksFetchFailed = 502;
    public const int AuthApplicationUser = 503;
    public const int JwksKeysRemoved = 504;

    // Topics and presence: 6xx
    public const int TopicOpened = 600;
    public const int TopicClosed = 601;
    public const int TopicEnded = 602;
    public const int TopicCreated = 603;
    public const int TopicSlowSubscriber = 604;
    public const int TopicNoReplicaOnNode = 605;
    public const int TopicEventTooLarge = 606;
    public const int TopicRefusedDuringFailover = 607;
    public const int PresencePublishFailed = 610;
    public const int PresenceExchangeDiffers = 611;
    public const int PresenceDroppedWhileBlocked = 612;
    public const int PresencePublishFailedRepeated = 613;
}
