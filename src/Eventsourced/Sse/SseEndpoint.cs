using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Eventsourced.Sse;

/// <summary>
/// The SSE endpoints: <c>GET</c> subscribes to the client's queue (<see cref="HandleAsync"/>) or to a topic
/// (<see cref="HandleTopicAsync"/>) and streams it as events; <c>OPTIONS</c> answers the CORS preflight; anything
/// else is 405 (<see cref="SubscriptionGate"/>).
/// </summary>
internal sealed class SseEndpoint(
    SubscriptionGate gate, QueueTarget queues, TopicTarget topics, SubscriptionSettings settings, GatewayMetrics metrics, IOptions<SseOptions> options)
{
    // Queues keep the original's format unless sse.* asks for more; a topic's events always carry their offset as id.
    private readonly SseFormat _queueFormat = new(new SseFields(
        options.Value.Event, options.Value.Id ? SseIdSource.MessageId : SseIdSource.None, options.Value.RetryMilliseconds));

    private readonly SseFormat _topicFormat = new(new SseFields(options.Value.Event, SseIdSource.StreamOffset, options.Value.RetryMilliseconds));

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => settings.Headers.Ignored;

    public Task HandleAsync(HttpContext context) => HandleAsync(context, queues, _queueFormat);

    public Task HandleTopicAsync(HttpContext context) => HandleAsync(context, topics, _topicFormat);

    private async Task HandleAsync(HttpContext context, ISubscriptionTarget target, SseFormat format)
    {
        if (await gate.AcceptAsync(context))
        {
            await gate.HandleAsync(context, target, format, subscription => new SseWriter(context, subscription, settings, metrics, format.Opening));
        }
    }
}
