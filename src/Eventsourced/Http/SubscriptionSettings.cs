using Eventsourced.Hosting;
using Eventsourced.Sse;
using Microsoft.Extensions.Options;

namespace Eventsourced.Http;

/// <summary>What every subscription of this gateway shares, prepared once from the configuration.</summary>
internal sealed class SubscriptionSettings(IOptions<ServerOptions> server, IOptions<HeaderOptions> headers, IOptions<SseOptions> sse, TimeProvider time, ShutdownDrain drain)
{
    public SseResponseHeaders Headers { get; } = new(headers.Value);

    public TimeProvider Time { get; } = time;

    /// <summary>Fires when the streams are to end: when the host begins to shut down, after <c>server.drain_delay</c>.</summary>
    public CancellationToken Stopping { get; } = drain.StreamsEnd;

    /// <summary>Null when heartbeats are off.</summary>
    public TimeSpan? Heartbeat { get; } = server.Value.HeartbeatSeconds > 0 ? TimeSpan.FromSeconds(server.Value.HeartbeatSeconds) : null;

    /// <summary><c>sse.direct_writes</c>: SSE streams over plain HTTP/1.1 are written straight to the socket once they run.</summary>
    public bool DirectWrites { get; } = sse.Value.DirectWrites;

    /// <summary><c>sse.event</c>: a message's AMQP <c>type</c> is sent to EventSources as its <c>event:</c> field.</summary>
    public bool SseEventTypes { get; } = sse.Value.Event;

    /// <summary><c>sse.heartbeat_event</c>: the type of the gateway's heartbeat events; empty when heartbeats are comments.</summary>
    public string SseHeartbeatEvent { get; } = sse.Value.HeartbeatEvent;

    /// <summary><c>sse.end_event</c>: the type of the event that says why the gateway ended a stream; empty for none.</summary>
    public string SseEndEvent { get; } = sse.Value.EndEvent;

    public TimeSpan WriteTimeout { get; } = TimeSpan.FromSeconds(Math.Max(1, server.Value.WriteTimeoutSeconds));
}
