using Eventsourced.Authentication;
using Eventsourced.Authorization;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Http;

/// <summary>
/// The request path every transport shares: CORS and methods, the origin, who asks (the token), the name of
/// what is asked for and whether the token permits it, opening it on the broker, and the subscription's lifetime
/// (metrics, logs, the token's expiry). Every refusal is answered here, with its status, <c>X-Status-Reason</c>
/// and a short body.
/// </summary>
internal sealed class SubscriptionGate(
    SubscriptionSettings settings,
    GatewayMetrics metrics,
    SubscriberAuthenticator authenticator,
    SubscriberPermissions permissions,
    OriginPolicy origins,
    ILogger<SubscriptionGate> logger)
{
    /// <summary>A timer's limit (about 49 days); a token valid longer is not ended at its expiry.</summary>
    private static readonly TimeSpan MaxExpiryTimer = TimeSpan.FromDays(49);

    /// <summary>
    /// The CORS headers; <c>OPTIONS</c> answered (204), methods other than <c>GET</c> refused (405), a page of an
    /// origin that <c>header.cors</c> does not list refused (403). False when the request has been answered.
    /// </summary>
    public async Task<bool> AcceptAsync(HttpContext context)
    {
        ApplyCors(context);
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

        if (!origins.IsAllowed(context.Request.Headers.Origin))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, StreamOutcomes.Forbidden, "origin not allowed");
            return false;
        }

        return true;
    }

    /// <summary>
    /// Authenticates the request (<c>auth</c>; on success <c>context.User</c> is the token's principal), resolves
    /// and authorizes what it asks for, opens it, then runs <paramref name="session"/> on it until the subscription
    /// ends (client gone, broker side ended, shutdown, the token expired) and releases it; or answers why not:
    /// 401 (no valid token), 400 (no valid name), 403 (the token does not permit the name), 503 (broker).
    /// </summary>
    public async Task HandleAsync(HttpContext context, ISubscriptionTarget target, IFrameFormat format, Func<ISubscription, ISubscriptionSession> session)
    {
        var who = await authenticator.AuthenticateAsync(context);
        if (!who.Succeeded)
        {
            // RFC 6750 section 3: the challenge names the error; the reason is in X-Status-Reason as for every refusal.
            context.Response.Headers.WWWAuthenticate = $"Bearer error=\"{who.Error}\", error_description=\"{StatusReason.AsHeaderValue(who.Reason).Replace('"', '\'')}\"";
            var outcome = who.Status == StatusCodes.Status401Unauthorized ? StreamOutcomes.Unauthorized : StreamOutcomes.BadRequest;
            await RefuseAsync(context, who.Status, outcome, who.Reason);
            return;
        }

        context.User = who.User!;
        if (!target.TryResolve(context, out var name, out var reason))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        if (!permissions.MayRead(context.User, target.Kind, name))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, StreamOutcomes.Forbidden, $"token does not permit reading {target.Kind} '{name}'");
            return;
        }

        // The token's expiry ends the subscription like a client leaving would, in every transport (auth.end_at_expiry).
        using var expiry = authenticator.EndsAtExpiry && who.Expires is { } expires && expires - settings.Time.GetUtcNow() is var left && left < MaxExpiryTimer
            ? new CancellationTokenSource(Max(left, TimeSpan.Zero), settings.Time)
            : null;
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, settings.Stopping, expiry?.Token ?? CancellationToken.None);
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
            else if (expiry is { IsCancellationRequested: true } && !context.RequestAborted.IsCancellationRequested)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\", error_description=\"token expired\"";
                await RefuseAsync(context, StatusCodes.Status401Unauthorized, StreamOutcomes.Unauthorized, "token expired");
            }

            return;
        }

        await RunAsync(context, subscription, session(subscription), expiry, lifetime.Token);
    }

    /// <summary>
    /// A client over a per-client limit (<c>limits.*</c>, before the endpoint ran): <c>429</c> with the CORS headers, so
    /// that the page can read it, and <c>Retry-After</c> in whole seconds.
    /// </summary>
    public async Task RefuseTooManyAsync(HttpContext context, string reason, TimeSpan retryAfter)
    {
        ApplyCors(context);
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

    private async Task RunAsync(HttpContext context, ISubscription subscription, ISubscriptionSession session, CancellationTokenSource? expiry, CancellationToken cancellationToken)
    {
        var started = settings.Time.GetTimestamp();
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        metrics.StreamOpened();
        SubscriptionLog.Opened(logger, subscription.Name, subscription.Node);
        var reason = SubscriptionEndReason.ClientGone;
        try
        {
            reason = await session.RunAsync(cancellationToken);
            if (expiry is { IsCancellationRequested: true } && !context.RequestAborted.IsCancellationRequested && !settings.Stopping.IsCancellationRequested)
            {
                // The session saw a cancellation; it was the token's expiry. The client hears why before the end.
                reason = SubscriptionEndReason.TokenExpired;
                await session.NotifyEndAsync(reason, context.RequestAborted);
            }
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

    /// <summary>The configured CORS headers and the origin the request may be answered for (<see cref="OriginPolicy"/>).</summary>
    private void ApplyCors(HttpContext context)
    {
        SseResponseHeaders.Apply(context.Response, settings.Headers.Cors);
        origins.Apply(context);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
