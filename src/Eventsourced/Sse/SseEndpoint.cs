using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Sse;

/// <summary>
/// The SSE endpoint: <c>GET</c> subscribes to the client's queue and streams it as events; <c>OPTIONS</c>
/// answers the CORS preflight; anything else is 405 (<see cref="SubscriptionGate"/>).
/// </summary>
internal sealed class SseEndpoint(SubscriptionGate gate, QueueTarget queues, SubscriptionSettings settings, GatewayMetrics metrics)
{
    private readonly SseFormat _format = new();

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => settings.Headers.Ignored;

    public async Task HandleAsync(HttpContext context)
    {
        if (await gate.AcceptAsync(context))
        {
            await gate.HandleAsync(context, queues, _format, subscription => new SseWriter(context, subscription, settings, metrics));
        }
    }
}
