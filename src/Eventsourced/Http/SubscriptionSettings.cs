using Eventsourced.Configuration;
using Eventsourced.Sse;

namespace Eventsourced.Http;

/// <summary>What every stream of this gateway shares, prepared once from the configuration.</summary>
internal sealed class SubscriptionSettings(GatewayOptions options, TimeProvider time, CancellationToken stopping)
{
    public SseResponseHeaders Headers { get; } = new(options.Header);

    public TimeProvider Time { get; } = time;

    /// <summary>Fires when the host begins to shut down.</summary>
    public CancellationToken Stopping { get; } = stopping;

    /// <summary>Null when heartbeats are off.</summary>
    public TimeSpan? Heartbeat { get; } = options.Server.HeartbeatSeconds > 0 ? TimeSpan.FromSeconds(options.Server.HeartbeatSeconds) : null;

    public TimeSpan WriteTimeout { get; } = TimeSpan.FromSeconds(Math.Max(1, options.Server.WriteTimeoutSeconds));
}
