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
    public Task<bool> AcceptAsync(HttpContext context) => AcceptAsync(context, webSocket: false);

    /// <summary>
    /// As <see cref="AcceptAsync(HttpContext)"/>; with <paramref name="webSocket"/>, an HTTP/2 WebSocket
    /// request (RFC 8441: <c>CONNECT</c> with <c>:protocol websocket</c>) counts as a <c>GET</c>.
    /// </summary>
    public async Task<bool> AcceptAsync(HttpContext context, bool webSocket)
    {
        SseResponseHeaders.Apply(context.Response, settings.Headers.Cors);
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return false;
        }

        if (!HttpMethods.IsGet(context.Request.Method)
            && !(webSocket && HttpMethods.IsConnect(context.Request.Method) && context.WebSockets.IsWebSocketRequest))
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
    /// With a <paramref name="hold"/>, the subscription outlives the request: a held one of the same name is
    /// taken instead of opening one (another request using it meanwhile is refused as busy), and kept for the
    /// next request afterwards instead of released, unless its broker side ended or the gateway stops.
    /// </summary>
    public async Task HandleAsync(HttpContext context, ISubscriptionTarget target, IFrameFormat format, Func<ISubscription, ISubscriptionSession> session, SubscriptionHold? hold = null)
    {
        if (!target.TryResolve(context, out var name, out var reason))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        HeldSubscription? held = null;
        if (hold is not null && !hold.TryTake(name, out held))
        {
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy, "another request for this queue is in progress");
            return;
        }

        if (held is { Subscription.EndReason: { } ended })
        {
            // Its broker side ended while it waited: end it, and open afresh.
            hold!.Forget(held);
            await held.EndAsync(ended);
            held = null;
        }

        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, settings.Stopping);
        var subscription = held?.Subscription ?? await OpenAsync(context, target, name, format, lifetime.Token);
        if (subscription is null)
        {
            return;
        }

        if (hold is not null && held is null)
        {
            held = new HeldSubscription(name, subscription, settings.Time.GetTimestamp(), (h, why) => EndAsync(h.Subscription, h.Started, why, h.Messages));
            if (!hold.TryAdd(held))
            {
                await subscription.DisposeAsync();
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy, "another request for this queue is in progress");
                return;
            }

            Begin(subscription);
        }

        if (hold is null)
        {
            await RunAsync(subscription, session(subscription), lifetime.Token);
        }
        else
        {
            await RunHeldAsync(hold, held!, session(subscription), lifetime.Token);
        }
    }

    /// <summary>Opens <paramref name="name"/>; null when it could not be opened and the request has been answered.</summary>
    private async Task<ISubscription?> OpenAsync(HttpContext context, ISubscriptionTarget target, string name, IFrameFormat format, CancellationToken cancellationToken)
    {
        try
        {
            return await target.OpenAsync(name, format, cancellationToken);
        }
        catch (SubscribeException ex)
        {
            var outcome = ex.Failure switch
            {
                SubscribeFailure.Busy => StreamOutcomes.Busy,
                SubscribeFailure.BrokerUnavailable => StreamOutcomes.BrokerUnavailable,
                _ => StreamOutcomes.BrokerError,
            };
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, outcome, ex.Message);
            return null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (settings.Stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerUnavailable, "gateway is shutting down");
            }

            return null;
        }
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
        var started = Begin(subscription);
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        var reason = await RunSessionAsync(subscription, session, cancellationToken);
        await EndAsync(subscription, started, reason, session.MessagesWritten);
    }

    /// <summary>One request's turn with a held subscription; kept for the next one unless its broker side ended or the gateway stops.</summary>
    private async Task RunHeldAsync(SubscriptionHold hold, HeldSubscription held, ISubscriptionSession session, CancellationToken cancellationToken)
    {
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        var reason = await RunSessionAsync(held.Subscription, session, cancellationToken);
        held.Messages += session.MessagesWritten;
        if (held.Subscription.EndReason is null && !settings.Stopping.IsCancellationRequested)
        {
            hold.Keep(held);
            return;
        }

        hold.Forget(held);
        await held.EndAsync(held.Subscription.EndReason ?? reason);
    }

    /// <summary>The subscription counts as open from here (metrics, log); returns when it started.</summary>
    private long Begin(ISubscription subscription)
    {
        var started = settings.Time.GetTimestamp();
        metrics.StreamOpened();
        SubscriptionLog.Opened(logger, subscription.Name, subscription.Node);
        return started;
    }

    private async Task<SubscriptionEndReason> RunSessionAsync(ISubscription subscription, ISubscriptionSession session, CancellationToken cancellationToken)
    {
        try
        {
            return await session.RunAsync(cancellationToken);
        }
        catch (Exception ex)
        {
            SubscriptionLog.Failed(logger, subscription.Name, ex);
            return SubscriptionEndReason.WriteFailed;
        }
    }

    /// <summary>Releases the subscription, then counts and logs its end.</summary>
    private async Task EndAsync(ISubscription subscription, long started, SubscriptionEndReason reason, long messages)
    {
        try
        {
            // Released first: once a subscription no longer counts as open, its channel is back too.
            await subscription.DisposeAsync();
        }
        finally
        {
            var duration = settings.Time.GetElapsedTime(started);
            metrics.StreamClosed(duration);
            if (reason is SubscriptionEndReason.ConsumerCancelled or SubscriptionEndReason.ChannelClosed)
            {
                SubscriptionLog.ConsumerEnded(logger, subscription.Name, reason);
            }

            SubscriptionLog.Closed(logger, subscription.Name, reason, duration.TotalSeconds, messages);
        }
    }
}
