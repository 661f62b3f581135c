using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Http;

/// <summary>
/// The request path every transport shares: CORS and methods, the name (and, where configured, the
/// authorization) of what is asked for, opening it on the broker, and the subscription's lifetime (metrics,
/// logs). Every refusal is answered here, with its status, <c>X-Status-Reason</c> and a short body.
/// </summary>
internal sealed class SubscriptionGate(SubscriptionSettings settings, GatewayMetrics metrics, ILogger<SubscriptionGate> logger)
{
    /// <summary>
    /// The CORS headers; <c>OPTIONS</c> answered (204), methods other than <c>GET</c> refused (405).
    /// False when the request has been answered.
    /// </summary>
    public async Task<bool> AcceptAsync(HttpContext context)
    {
        SseResponseHeaders.Apply(context.Response, settings.Headers.Cors);
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return false;
        }

        if (!HttpMethods.IsGet(context.Request.Method))
        {
            context.Response.Headers.Allow = "GET, OPTIONS";
            await RefuseAsync(context, StatusCodes.Status405MethodNotAllowed, StreamOutcomes.MethodNotAllowed, "method not allowed");
            return false;
        }

        return true;
    }

    /// <summary>
    /// Resolves and opens what the request asks for, then runs <paramref name="session"/> on it until the
    /// subscription ends (client gone, broker side ended, shutdown) and releases it; or answers why not.
    /// </summary>
    public async Task HandleAsync(HttpContext context, ISubscriptionTarget target, IFrameFormat format, Func<ISubscription, ISubscriptionSession> session)
    {
        if (!target.TryResolve(context, out var name, out var reason))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, settings.Stopping);
        ISubscription subscription;
        try
        {
            subscription = await target.OpenAsync(name, format, lifetime.Token);
        }
        catch (SubscribeException ex)
        {
            var (status, outcome) = ex.Failure switch
            {
                SubscribeFailure.Busy => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy),
                SubscribeFailure.BrokerUnavailable => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerUnavailable),
                SubscribeFailure.QueueRefused => (StatusCodes.Status403Forbidden, StreamOutcomes.QueueRefused),
                _ => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerError),
            };
            if (ex.Failure is SubscribeFailure.BrokerError or SubscribeFailure.QueueRefused)
            {
                // The broker's words (user names, node addresses, arguments) stay in the log.
                SubscriptionLog.BrokerRefused(logger, name, ex.Message);
            }

            await RefuseAsync(context, status, outcome, ex.ClientReason);
            return;
        }
        catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
        {
            if (settings.Stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerUnavailable, "gateway is shutting down");
            }

            return;
        }

        await RunAsync(subscription, session(subscription), lifetime.Token);
    }

    /// <summary>
    /// A client over a per-client limit (<c>limits.*</c>, before the endpoint ran): <c>429</c> with the CORS headers, so
    /// that the page can read it, and <c>Retry-After</c> in whole seconds.
    /// </summary>
    public async Task RefuseTooManyAsync(HttpContext context, string reason, TimeSpan retryAfter)
    {
        SseResponseHeaders.Apply(context.Response, settings.Headers.Cors);
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await RefuseAsync(context, StatusCodes.Status429TooManyRequests, StreamOutcomes.RateLimited, reason);
    }

    /// <summary>Answers <paramref name="status"/> with <paramref name="reason"/> in <c>X-Status-Reason</c> and the body, counted under <paramref name="outcome"/>.</summary>
    public async Task RefuseAsync(HttpContext context, int status, string outcome, string reason)
    {
        metrics.StreamOutcome(outcome);
        SubscriptionLog.Rejected(logger, context.Request.Method, context.Request.Path, status, reason);
        var response = context.Response;
        response.StatusCode = status;
        response.Headers[StatusReason.Header] = StatusReason.AsHeaderValue(reason);
        response.Headers.CacheControl = "no-store";
        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(reason + "\n", context.RequestAborted);
    }

    private async Task RunAsync(ISubscription subscription, ISubscriptionSession session, CancellationToken cancellationToken)
    {
        var started = settings.Time.GetTimestamp();
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        metrics.StreamOpened();
        SubscriptionLog.Opened(logger, subscription.Name, subscription.Node);
        var reason = SubscriptionEndReason.ClientGone;
        try
        {
            reason = await session.RunAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            SubscriptionLog.Failed(logger, subscription.Name, ex);
            reason = SubscriptionEndReason.WriteFailed;
        }
        finally
        {
            // Released first: once a subscription no longer counts as open, its channel is back too.
            await subscription.DisposeAsync();
            var duration = settings.Time.GetElapsedTime(started);
            metrics.StreamClosed(duration);
            if (reason is SubscriptionEndReason.ConsumerCancelled or SubscriptionEndReason.ChannelClosed)
            {
                SubscriptionLog.ConsumerEnded(logger, subscription.Name, reason);
            }

            SubscriptionLog.Closed(logger, subscription.Name, reason, duration.TotalSeconds, session.MessagesWritten);
        }
    }
}
