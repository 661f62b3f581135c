using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Naming;
using Eventsourced.Sse;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Http;

/// <summary>
/// The SSE endpoint: <c>GET</c> subscribes to the queue the request names, <c>OPTIONS</c> answers the
/// CORS preflight, anything else is 405. Every refusal carries <c>X-Status-Reason</c> and a short body.
/// </summary>
internal sealed class SseEndpoint
{
    private readonly QueueOptions _queue;
    private readonly BrokerPool _pool;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger<SseEndpoint> _logger;
    private readonly QueueNameResolver _resolver;
    private readonly SubscriptionSettings _settings;

    public SseEndpoint(
        IOptions<QueueOptions> queue, SubscriptionSettings settings, BrokerPool pool, GatewayMetrics metrics, ILogger<SseEndpoint> logger)
    {
        _queue = queue.Value;
        _pool = pool;
        _metrics = metrics;
        _logger = logger;
        _resolver = new QueueNameResolver(QueuePattern.Parse(_queue.Pattern));
        _settings = settings;
    }

    /// <summary>Configured headers left to the HTTP server (see <see cref="SseResponseHeaders"/>).</summary>
    public IReadOnlyList<string> IgnoredHeaders => _settings.Headers.Ignored;

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        SseResponseHeaders.Apply(context.Response, _settings.Headers.Cors);
        if (HttpMethods.IsOptions(request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        if (!HttpMethods.IsGet(request.Method))
        {
            context.Response.Headers.Allow = "GET, OPTIONS";
            await RejectAsync(context, StatusCodes.Status405MethodNotAllowed, StreamOutcomes.MethodNotAllowed, "method not allowed");
            return;
        }

        if (!_resolver.TryResolve(request, out var queue, out var reason))
        {
            await RejectAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        using var streamToken = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _settings.Stopping);
        Subscription subscription;
        try
        {
            subscription = await Subscription.OpenAsync(_pool, queue, _queue, _logger, streamToken.Token);
        }
        catch (SubscribeException ex)
        {
            var outcome = ex.Failure switch
            {
                SubscribeFailure.Busy => StreamOutcomes.Busy,
                SubscribeFailure.BrokerUnavailable => StreamOutcomes.BrokerUnavailable,
                _ => StreamOutcomes.BrokerError,
            };
            await RejectAsync(context, StatusCodes.Status503ServiceUnavailable, outcome, ex.Message);
            return;
        }
        catch (OperationCanceledException) when (streamToken.IsCancellationRequested)
        {
            if (_settings.Stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                await RejectAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerUnavailable, "gateway is shutting down");
            }

            return;
        }

        await using (subscription)
        {
            await StreamAsync(context, subscription, streamToken.Token);
        }
    }

    private async Task StreamAsync(HttpContext context, Subscription subscription, CancellationToken cancellationToken)
    {
        var started = _settings.Time.GetTimestamp();
        var session = new SseWriter(context, subscription, _settings, _metrics);
        _metrics.StreamOutcome(StreamOutcomes.Streamed);
        _metrics.StreamOpened();
        SubscriptionLog.Opened(_logger, subscription.QueueName, subscription.Node);
        var reason = SubscriptionEndReason.ClientGone;
        try
        {
            reason = await session.RunAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            SubscriptionLog.Failed(_logger, subscription.QueueName, ex);
            reason = SubscriptionEndReason.WriteFailed;
        }
        finally
        {
            var duration = _settings.Time.GetElapsedTime(started);
            _metrics.StreamClosed(duration);
            if (reason is SubscriptionEndReason.ConsumerCancelled or SubscriptionEndReason.ChannelClosed)
            {
                SubscriptionLog.ConsumerEnded(_logger, subscription.QueueName, reason);
            }

            SubscriptionLog.Closed(_logger, subscription.QueueName, reason, duration.TotalSeconds, session.MessagesWritten);
        }
    }

    private async Task RejectAsync(HttpContext context, int status, string outcome, string reason)
    {
        _metrics.StreamOutcome(outcome);
        SubscriptionLog.Rejected(_logger, context.Request.Method, context.Request.Path, status, reason);
        var response = context.Response;
        response.StatusCode = status;
        response.Headers[StatusReason.Header] = StatusReason.AsHeaderValue(reason);
        response.Headers.CacheControl = "no-store";
        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(reason + "\n", context.RequestAborted);
    }
}
