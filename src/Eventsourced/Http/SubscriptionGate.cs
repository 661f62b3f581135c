using Eventsourced.Authentication;
using Eventsourced.Authorization;
using Eventsourced.Consuming;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Eventsourced.Presence;
using Eventsourced.Sse;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;

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
    PresencePublisher presence,
    Limits.ClientStreams clients,
    Microsoft.Extensions.Options.IOptions<QueueOptions> queue,
    Microsoft.Extensions.Options.IOptions<Limits.LimitsOptions> limits,
    WebSockets.WebSocketRefusal webSocketRefusal,
    ILogger<SubscriptionGate> logger) : IDisposable
{
    private readonly Limits.MemoryAdmission _memory = new(limits.Value.MaxMemoryPercent, settings.Time);

    private readonly Refusals<string> _memoryRefusals = new(
        settings.Time,
        heap => SubscriptionLog.MemoryFull(logger, heap),
        (count, over, heap) => SubscriptionLog.MemoryFullRepeated(logger, count, over.TotalSeconds, heap));

    private readonly Limits.SubscriptionCap _cap = new(limits.Value.MaxSubscriptions);

    private readonly Refusals<long> _capRefusals = new(
        settings.Time,
        open => SubscriptionLog.AtCap(logger, open, limits.Value.MaxSubscriptions),
        (count, over, _) => SubscriptionLog.AtCapRepeated(logger, limits.Value.MaxSubscriptions, count, over.TotalSeconds));

    /// <summary>
    /// <c>Retry-After</c> of a <c>503</c> for want of the broker (no connection, a refusal, a subscription it ended) or
    /// while the gateway shuts down: the gateway probes a lost node every 250 ms, a balancer moves a draining
    /// instance's clients elsewhere; a few seconds spare the broker a client's tight loop.
    /// </summary>
    internal static readonly string BrokerRetryAfter = RetryAfterValue(TimeSpan.FromSeconds(5));

    /// <summary><c>Retry-After</c> of a <c>503</c> for a queue another subscriber holds: <c>queue.busy_grace</c>, at least a second.</summary>
    private readonly string _busyRetryAfter = RetryAfterValue(TimeSpan.FromSeconds(queue.Value.BusyGraceSeconds));

    /// <summary>A timer's limit (about 49 days); a token valid longer is not ended at its expiry.</summary>
    private static readonly TimeSpan MaxExpiryTimer = TimeSpan.FromDays(49);

    /// <summary>
    /// How long after the token's expiry its subscription ends. The runtime's timers count whole milliseconds and may
    /// fire a moment early: a client told "token expired" that reconnected at once with the same token was let in by
    /// the token's validation (expired only once the clock is past it), and ended again a moment later.
    /// </summary>
    internal static readonly TimeSpan ExpiryTimerSlack = TimeSpan.FromMilliseconds(20);

    // A client can make the broker refuse as fast as it sends requests (a stream queue's name, a queue another
    // application declared with other arguments, a bind to a missing exchange for every id it walks): the first refusal
    // of a kind (queue or topic), failure and broker reply code is written at once, its repeats summed up every 10 s,
    // each line naming the latest queue (or topic) and the broker's words about it.
    private readonly BrokerRefusals _brokerRefusals = new(settings.Time, logger);

    /// <summary>
    /// The CORS headers; <c>OPTIONS</c> answered (204), methods other than <c>GET</c> refused (405), a page of an
    /// origin that <c>header.cors</c> does not list refused (403). False when the request has been answered. An HTTP/2
    /// WebSocket request (RFC 8441: <c>CONNECT</c> with <c>:protocol websocket</c>) counts as a <c>GET</c>: the WebSocket
    /// endpoints serve it, the others tell it where WebSockets are (400), as they tell an HTTP/1.1 upgrade. The origin
    /// check matters most there: browsers apply no CORS to WebSockets.
    /// </summary>
    public async Task<bool> AcceptAsync(HttpContext context)
    {
        ApplyCors(context);
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return false;
        }

        if (!HttpMethods.IsGet(context.Request.Method)
            && !(HttpMethods.IsConnect(context.Request.Method) && SseEndpoint.IsWebSocketUpgrade(context.Request)))
        {
            context.Response.Headers.Allow = "GET, OPTIONS";
            await RefuseAsync(context, StatusCodes.Status405MethodNotAllowed, StreamOutcomes.MethodNotAllowed, "method not allowed");
            return false;
        }

        if (HasBody(context))
        {
            // Never read, a body stayed in the server's request buffer (up to 1 MB) for as long as the stream ran: 200
            // streams with a chunked body held 214 MB more than without. Refused, the server reads it to its end and
            // drops it (at its minimum data rate, up to its body size limit). Not Connection: close: closed with the
            // body unread, the socket is reset, and the client may lose the answer.
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, GetWithBody);
            return false;
        }

        if (origins.HostRefusal(context.Request) is { } hostRefused)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, hostRefused);
            return false;
        }

        if (origins.Refusal(context.Request) is { } originRefused)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, StreamOutcomes.Forbidden, originRefused);
            return false;
        }

        return true;
    }

    /// <summary>Why a request with a body is refused (see <see cref="HasBody"/>).</summary>
    internal const string GetWithBody = "a GET request must not have a body (Content-Length or Transfer-Encoding)";

    /// <summary>
    /// Whether a <c>GET</c> comes with a body (HTTP/1.1's <c>Content-Length</c> above 0 or <c>Transfer-Encoding</c>, HTTP/2's
    /// DATA after the headers without a <c>content-length: 0</c>), which no subscriber sends (an EventSource, a WebSocket handshake and a fetch's <c>GET</c> have
    /// none). An HTTP/2 WebSocket's <c>CONNECT</c> keeps its stream open for the WebSocket's frames: it is not asked; nor is a
    /// WebSocket handshake, which the WebSocket endpoints refuse with a body themselves, saying why the upgrade failed.
    /// </summary>
    private static bool HasBody(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method) && !SseEndpoint.IsWebSocketUpgrade(context.Request)
        && (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0
            || (context.Request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true }));

    /// <summary>
    /// Authenticates the request (<c>auth</c>; on success <c>context.User</c> is the token's principal), resolves
    /// and authorizes what it asks for, opens it, then runs <paramref name="session"/> on it until the subscription
    /// ends (client gone, broker side ended, shutdown, the token expired) and releases it; or answers why not:
    /// 401 (no valid token), 400 (no valid name), 403 (the token does not permit the name), 503 (broker).
    /// With a <paramref name="hold"/>, the subscription outlives the request: a held one of the same name is
    /// taken instead of opening one (another request using it meanwhile is refused as busy), and kept for the
    /// next request afterwards instead of released, unless its broker side ended or the gateway stops. Every
    /// request is authenticated and authorized on its own, held subscription or not.
    /// </summary>
    public async Task HandleAsync(HttpContext context, ISubscriptionTarget target, IFrameFormat format, Func<ISubscription, ISubscriptionSession> session, SubscriptionHold? hold = null)
    {
        var who = await authenticator.AuthenticateAsync(context);
        if (!who.Succeeded)
        {
            // RFC 6750 section 3: the challenge names the error; the reason is in X-Status-Reason as for every refusal. No
            // bearer challenge where the application, not a token, signs users in.
            if (who.Error.Length > 0)
            {
                context.Response.Headers.WWWAuthenticate = $"Bearer error=\"{who.Error}\", error_description=\"{StatusReason.AsHeaderValue(who.Reason).Replace('"', '\'')}\"";
            }

            var outcome = who.Status switch
            {
                StatusCodes.Status401Unauthorized => StreamOutcomes.Unauthorized,
                StatusCodes.Status503ServiceUnavailable => StreamOutcomes.KeysUnavailable,
                _ => StreamOutcomes.BadRequest,
            };
            await RefuseAsync(context, who.Status, outcome, who.Reason);
            return;
        }

        context.User = who.User!;
        if (!target.TryResolve(context, out var name, out var reason))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        if (permissions.ReadRefusal(context.User, target.Kind, name) is { } forbidden)
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, StreamOutcomes.Forbidden, forbidden);
            return;
        }

        if (_memory.Full(out var used, out var available))
        {
            _memoryRefusals.Add($"the heap holds {used / (1024 * 1024)} MiB of the {available / (1024 * 1024)} MiB the runtime may use, more than limits.max_memory_percent ({limits.Value.MaxMemoryPercent})");
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Overloaded, "gateway memory nearly full");
            return;
        }

        // A held subscription stays open between requests: one client holds no more than limits.streams_per_client,
        // counted together with its streams and WebSockets (each while it runs), so that held polls are no budget apart.
        // One taken from another client's count moves to this one's.
        var client = Limits.ClientAddress.PartitionKey(context, limits.Value.Ipv6Prefix);
        HeldSubscription? held = null;
        if (hold is not null)
        {
            bool taken, tooMany;
            try
            {
                (taken, held, tooMany) = await hold.TakeAsync(name, client, context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            if (tooMany)
            {
                await RefuseTooManyStreamsAsync(context);
                return;
            }

            if (!taken)
            {
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy, "another request for this queue is in progress");
                return;
            }
        }

        if (hold is not null && held is null && !hold.HasRoomFor(client))
        {
            await RefuseTooManyStreamsAsync(context);
            return;
        }

        using var counted = hold is null ? clients.TryOpen(client) : Limits.ClientStreams.NotCounted;
        if (counted is null)
        {
            await RefuseTooManyStreamsAsync(context);
            return;
        }

        if (held is { Subscription.EndReason: { } ended })
        {
            // Its broker side ended while it waited: end it, and open afresh.
            hold!.Forget(held);
            await held.EndAsync(ended);
            held = null;
        }

        // The token's expiry ends the subscription like a client leaving would, in every transport (auth.end_at_expiry); so
        // does the removal of the JWKS key that verified it (the issuer revoked the key), which the client hears as the
        // same "token expired": either way it needs a new token.
        using var expiry = !authenticator.EndsAtExpiry ? null
            : who.Expires is { } expires && expires - settings.Time.GetUtcNow() is var left && left < MaxExpiryTimer
                ? new CancellationTokenSource(Max(left, TimeSpan.Zero) + ExpiryTimerSlack, settings.Time)
            : who.KeyRemoved.CanBeCanceled ? new CancellationTokenSource()
            : null;
        using var keyRemoved = expiry is not null && who.KeyRemoved.CanBeCanceled
            ? who.KeyRemoved.Register(static state => ((CancellationTokenSource)state!).Cancel(), expiry)
            : default;
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, settings.Stopping, expiry?.Token ?? CancellationToken.None);
        if (held is not null && !await ReuseAsync(context, target, name, held, expiry, lifetime.Token))
        {
            // Refused (answered): the subscription waits for the next request, as after an answer.
            hold!.Keep(held);
            return;
        }

        if (held is not null)
        {
            Announce(target.Kind, held, context.User);
        }

        // A new subscription counts against limits.max_subscriptions from here until its end (EndAsync); a held one taken
        // again is counted already.
        if (held is null && !_cap.TryTake())
        {
            _capRefusals.Add(_cap.Open);
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Overloaded, "gateway at its subscription limit");
            return;
        }

        ISubscription? subscription;
        try
        {
            subscription = held?.Subscription ?? await OpenAsync(context, target, name, format, expiry, lifetime.Token);
        }
        catch
        {
            if (held is null)
            {
                _cap.Give();
            }

            throw;
        }

        if (subscription is null)
        {
            _cap.Give();
            return;
        }

        if (hold is not null && held is null)
        {
            held = new HeldSubscription(name, subscription, settings.Time.GetTimestamp(), (h, why) => presence.Ending(EndAsync(target.Kind, h.User, h.Subscription, h.Started, why, h.Messages)), client, context.User);
            if (!hold.TryAdd(held, out var tooMany))
            {
                await subscription.DisposeAsync();
                _cap.Give();
                if (tooMany)
                {
                    await RefuseTooManyStreamsAsync(context);
                }
                else
                {
                    await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy, "another request for this queue is in progress");
                }

                return;
            }

            Begin(target.Kind, context.User, subscription);
        }

        if (hold is null)
        {
            await RunAsync(context, target.Kind, subscription, session(subscription), expiry, lifetime.Token);
        }
        else
        {
            await RunHeldAsync(context, target.Kind, hold, held!, session(subscription), expiry, lifetime.Token);
        }
    }

    /// <summary>
    /// A held subscription taken by this request: what the request asks for beyond the name is applied to it, as opening
    /// would have (<see cref="ISubscriptionTarget.ReuseAsync"/>); false when refused and the request has been answered.
    /// </summary>
    private async Task<bool> ReuseAsync(HttpContext context, ISubscriptionTarget target, string name, HeldSubscription held, CancellationTokenSource? expiry, CancellationToken cancellationToken) =>
        await SubscribeAsync(context, target, name, expiry, cancellationToken, async () =>
        {
            await target.ReuseAsync(context, held.Subscription, cancellationToken);
            return true;
        });

    /// <summary>Opens <paramref name="name"/>; null when it could not be opened and the request has been answered.</summary>
    private Task<ISubscription?> OpenAsync(HttpContext context, ISubscriptionTarget target, string name, IFrameFormat format, CancellationTokenSource? expiry, CancellationToken cancellationToken) =>
        SubscribeAsync<ISubscription?>(context, target, name, expiry, cancellationToken, async () => await target.OpenAsync(context, name, format, cancellationToken));

    /// <summary>Runs <paramref name="subscribe"/>; a refusal is answered (and default returned).</summary>
    private async Task<T?> SubscribeAsync<T>(HttpContext context, ISubscriptionTarget target, string name, CancellationTokenSource? expiry, CancellationToken cancellationToken, Func<Task<T>> subscribe)
    {
        try
        {
            return await subscribe();
        }
        catch (SubscribeException ex)
        {
            var (status, outcome) = ex.Failure switch
            {
                SubscribeFailure.Busy => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.Busy),
                SubscribeFailure.BrokerUnavailable => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerUnavailable),
                SubscribeFailure.NotFound => (StatusCodes.Status404NotFound, StreamOutcomes.NotFound),
                SubscribeFailure.Forbidden => (StatusCodes.Status403Forbidden, StreamOutcomes.Forbidden),
                SubscribeFailure.Conflict => (StatusCodes.Status409Conflict, StreamOutcomes.Conflict),
                SubscribeFailure.QueueRefused => (StatusCodes.Status403Forbidden, StreamOutcomes.QueueRefused),
                SubscribeFailure.BadRequest => (StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest),
                _ => (StatusCodes.Status503ServiceUnavailable, StreamOutcomes.BrokerError),
            };
            if (ex.Failure is SubscribeFailure.BrokerError or SubscribeFailure.QueueRefused)
            {
                // The broker's words (user names, node addresses, arguments) stay in the log.
                _brokerRefusals.Add(target.Kind, name, ex);
            }

            await RefuseAsync(context, status, outcome, ex.ClientReason);
            return default;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
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

            return default;
        }
    }

    /// <summary>
    /// A client over a per-client limit (<c>limits.*</c>, before the endpoint ran): <c>429</c> with the CORS headers, so
    /// that the page can read it, and <c>Retry-After</c> in whole seconds.
    /// </summary>
    public async Task RefuseTooManyAsync(HttpContext context, string reason, TimeSpan retryAfter)
    {
        ApplyCors(context);
        context.Response.Headers.RetryAfter = RetryAfterValue(retryAfter);
        await RefuseAsync(context, StatusCodes.Status429TooManyRequests, StreamOutcomes.RateLimited, reason);
    }

    /// <summary>The client holds <c>limits.streams_per_client</c> subscriptions between requests already: <c>429</c> as the rate limiter's.</summary>
    private Task RefuseTooManyStreamsAsync(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "5";
        return RefuseAsync(context, StatusCodes.Status429TooManyRequests, StreamOutcomes.RateLimited, "too many streams from this address");
    }

    /// <summary>
    /// Answers <paramref name="status"/> with <paramref name="reason"/> in <c>X-Status-Reason</c> and the body, counted under
    /// <paramref name="outcome"/>. A <c>503</c> says when to try again (<c>Retry-After</c>): after <c>queue.busy_grace</c>
    /// for a queue held by another subscriber, else after <see cref="BrokerRetryAfter"/>; a <c>429</c> carries its own.
    /// </summary>
    public async Task RefuseAsync(HttpContext context, int status, string outcome, string reason)
    {
        if (status == StatusCodes.Status503ServiceUnavailable && !context.Response.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.RetryAfter))
        {
            context.Response.Headers.RetryAfter = outcome == StreamOutcomes.Busy ? _busyRetryAfter : BrokerRetryAfter;
        }

        metrics.StreamOutcome(outcome);
        SubscriptionLog.Rejected(logger, context.Request.Method, context.Request.Path, status, reason);
        if (webSocketRefusal.Applies(context))
        {
            // ws.close_refusals: a close frame with 4000 + status and the reason, which a page can read.
            await webSocketRefusal.RefuseAsync(context, status, reason);
            return;
        }

        await StatusReason.WriteAsync(context, status, reason);
    }

    private async Task RunAsync(HttpContext context, string kind, ISubscription subscription, ISubscriptionSession session, CancellationTokenSource? expiry, CancellationToken cancellationToken)
    {
        var started = Begin(kind, context.User, subscription);
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        var reason = await RunSessionAsync(context, kind, subscription, session, expiry, cancellationToken);
        await EndAsync(kind, context.User, subscription, started, reason, session.MessagesWritten);
        await session.FinishAsync();
    }

    /// <summary>One request's turn with a held subscription; kept for the next one unless its broker side ended or the gateway stops.</summary>
    private async Task RunHeldAsync(HttpContext context, string kind, SubscriptionHold hold, HeldSubscription held, ISubscriptionSession session, CancellationTokenSource? expiry, CancellationToken cancellationToken)
    {
        metrics.StreamOutcome(StreamOutcomes.Streamed);
        var reason = await RunSessionAsync(context, kind, held.Subscription, session, expiry, cancellationToken);
        held.Messages += session.MessagesWritten;
        if (held.Subscription.EndReason is null && !settings.Stopping.IsCancellationRequested)
        {
            hold.Keep(held);
            return;
        }

        hold.Forget(held);
        await held.EndAsync(held.Subscription.EndReason ?? reason);
    }

    /// <summary>
    /// A held subscription taken by a request whose token names another subject (a token that may read the same queue):
    /// presence says that the subject it was announced for has gone and that this one reads it now, and its end will name
    /// this one. Announced for its first subject until it ended, it showed a user online who had left, and never the one
    /// polling.
    /// </summary>
    private void Announce(string kind, HeldSubscription held, System.Security.Claims.ClaimsPrincipal user)
    {
        if (string.Equals(PresencePublisher.Subject(held.User), PresencePublisher.Subject(user), StringComparison.Ordinal))
        {
            return;
        }

        presence.Unsubscribed(kind, held.Name, held.User);
        presence.Subscribed(kind, held.Name, user);
        held.User = user;
    }

    /// <summary>The subscription counts as open from here (metrics, log, presence); returns when it started.</summary>
    private long Begin(string kind, System.Security.Claims.ClaimsPrincipal user, ISubscription subscription)
    {
        var started = settings.Time.GetTimestamp();
        metrics.StreamOpened();
        SubscriptionLog.Opened(logger, kind, subscription.Name, subscription.Node);
        presence.Subscribed(kind, subscription.Name, user);
        return started;
    }

    private async Task<SubscriptionEndReason> RunSessionAsync(HttpContext context, string kind, ISubscription subscription, ISubscriptionSession session, CancellationTokenSource? expiry, CancellationToken cancellationToken)
    {
        try
        {
            var reason = await session.RunAsync(cancellationToken);
            if (expiry is { IsCancellationRequested: true } && !context.RequestAborted.IsCancellationRequested && !settings.Stopping.IsCancellationRequested)
            {
                // The session saw a cancellation; it was the token's expiry. The client hears why before the end.
                reason = SubscriptionEndReason.TokenExpired;
                await session.NotifyEndAsync(reason, context.RequestAborted);
            }

            return reason;
        }
        catch (Exception ex)
        {
            SubscriptionLog.Failed(logger, kind, subscription.Name, ex);
            return SubscriptionEndReason.WriteFailed;
        }
    }

    /// <summary>Releases the subscription, then counts, logs and announces its end.</summary>
    private async Task EndAsync(string kind, System.Security.Claims.ClaimsPrincipal? user, ISubscription subscription, long started, SubscriptionEndReason reason, long messages)
    {
        try
        {
            // Released first: once a subscription no longer counts as open, its channel is back too.
            await subscription.DisposeAsync();
        }
        finally
        {
            _cap.Give();
            var duration = settings.Time.GetElapsedTime(started);
            metrics.StreamClosed(duration);
            if (reason is SubscriptionEndReason.ConsumerCancelled or SubscriptionEndReason.ChannelClosed)
            {
                SubscriptionLog.ConsumerEnded(logger, kind, subscription.Name, reason);
            }

            SubscriptionLog.Closed(logger, kind, subscription.Name, reason, duration.TotalSeconds, messages);
            presence.Unsubscribed(kind, subscription.Name, user);
        }
    }

    /// <summary>
    /// A request that no endpoint serves: <c>404</c> with the reason, and the CORS headers as every other answer a page may
    /// get (a page's <c>fetch</c> with a mistyped path reads why, instead of a CORS error). Not counted as a stream outcome.
    /// A CORS preflight there is answered as at the endpoints (<c>204</c>): browsers fail a preflight that is not a 2xx, and
    /// a <c>fetch</c> that sends a header (a token as <c>Authorization</c>) would see a network error instead of the 404.
    /// </summary>
    public Task RefuseNoEndpointAsync(HttpContext context, string reason = "no such endpoint")
    {
        ApplyCors(context);
        if (HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }

        return StatusReason.WriteAsync(context, StatusCodes.Status404NotFound, reason);
    }

    /// <summary>
    /// The configured CORS headers and the origin the request may be answered for (<see cref="OriginPolicy"/>). A page of an
    /// origin that a list leaves out gets none of the configured <c>Access-Control-*</c> headers (only <c>Vary: Origin</c>).
    /// </summary>
    private void ApplyCors(HttpContext context)
    {
        var origin = context.Request.Headers.Origin.ToString();
        var refused = !origins.IsAllowed(origin) && !OriginPolicy.IsSameOrigin(origin, context.Request);
        SseResponseHeaders.Apply(context.Response, refused ? settings.Headers.CorsForRefusedOrigins : settings.Headers.Cors);
        origins.Apply(context);
        // Every answer here (a stream, a poll's messages, a refusal) may carry what clients published: a browser must never
        // sniff it into HTML or script. Not a header.sse entry, which an operator could leave out.
        context.Response.Headers.XContentTypeOptions = "nosniff";
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>A <c>Retry-After</c> value: whole seconds, rounded up, at least 1.</summary>
    internal static string RetryAfterValue(TimeSpan wait) =>
        Math.Max(1, (int)Math.Min(int.MaxValue, Math.Ceiling(wait.TotalSeconds))).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        _brokerRefusals.Dispose();
        _memoryRefusals.Dispose();
        _capRefusals.Dispose();
    }

    /// <summary>
    /// Subscriptions refused for one reason (want of memory, <c>limits.max_subscriptions</c>): the first logged at once,
    /// then a count per 10 s (a full gateway is refused again and again), each line with what the latest refusal saw.
    /// </summary>
    private sealed class Refusals<T> : IDisposable
    {
        private readonly LogDigest _digest;
        private StrongBox<T>? _latest;

        public Refusals(TimeProvider time, Action<T> first, Action<int, TimeSpan, T> repeated) => _digest = new(
            LogDigest.RefusalInterval,
            time,
            _ => first(Latest),
            (_, count, over) => repeated(count, over, Latest));

        private T Latest => Volatile.Read(ref _latest)!.Value!;

        public void Add(T latest)
        {
            Volatile.Write(ref _latest, new StrongBox<T>(latest));
            _digest.Add("refused");
        }

        public void Dispose() => _digest.Dispose();
    }

    /// <summary>
    /// The broker's refusals of subscriptions, grouped by kind, failure and reply code (not by name: walking ids must not
    /// write a line per id); the first of a group logged at once, then a count per 10 s, each line with the latest
    /// refusal's queue (or topic) and detail.
    /// </summary>
    private sealed class BrokerRefusals : IDisposable
    {
        private readonly ConcurrentDictionary<string, Refusal> _latest = new(StringComparer.Ordinal);
        private readonly LogDigest _digest;
        private Refusal? _any;

        public BrokerRefusals(TimeProvider time, ILogger logger) => _digest = new(
            LogDigest.RefusalInterval,
            time,
            key =>
            {
                var r = Latest(key);
                SubscriptionLog.BrokerRefused(logger, r.Kind, r.Name, r.Detail);
            },
            (key, count, over) =>
            {
                var r = Latest(key);
                SubscriptionLog.BrokerRefusedRepeated(logger, r.Kind, count, r.Name, over.TotalSeconds, r.Detail);
            });

        public void Add(string kind, string name, SubscribeException ex)
        {
            var key = $"{kind}\0{ex.Failure}\0{ReplyOf(ex)}";
            var refusal = new Refusal(kind, name, ex.Message);
            _latest[key] = refusal;
            Volatile.Write(ref _any, refusal);
            _digest.Add(key);
        }

        public void Dispose() => _digest.Dispose();

        /// <summary>The broker's reply code; for a refusal without one (no answer, a stream still being created) the exception's type.</summary>
        private static string ReplyOf(SubscribeException ex) => ex.InnerException switch
        {
            OperationInterruptedException { ShutdownReason: { } reason } => reason.ReplyCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
            { } inner => inner.GetType().Name,
            null => ex.GetType().Name,
        };

        // The digest's shared key past its limit of keys has no refusal of its own: the latest of any.
        private Refusal Latest(string key) => _latest.TryGetValue(key, out var refusal) ? refusal : Volatile.Read(ref _any)!;

        private sealed record Refusal(string Kind, string Name, string Detail);
    }
}
