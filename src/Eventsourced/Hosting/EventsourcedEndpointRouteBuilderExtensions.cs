using Eventsourced.Health;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.LongPolling;
using Eventsourced.Limits;
using Eventsourced.Metrics;
using Eventsourced.Sockets;
using Eventsourced.Sse;
using Eventsourced.WebSockets;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Prometheus;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.AspNetCore.Builder;

public static class EventsourcedEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the SSE stream at <paramref name="path"/>, or at <c>server.path</c> when it is null. A path ending
    /// in <c>/</c> also serves every path below it that no other endpoint claims (the original served "/" for
    /// every path).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is not an absolute URL path without route syntax.</exception>
    public static IEndpointConventionBuilder MapEventsourced(this IEndpointRouteBuilder endpoints, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        path ??= services.GetRequiredService<IOptions<ServerOptions>>().Value.Path;
        if (UrlPath.Check(path) is { } problem)
        {
            throw new ArgumentException($"eventsourced path {problem}", nameof(path));
        }

        var stream = services.GetRequiredService<SseEndpoint>();
        var pattern = path.EndsWith('/') ? path + "{**rest}" : path;
        return Subscribing(endpoints.Map(pattern, Limited(services, UncompressedOverHttps(stream.HandleAsync))).WithDisplayName("eventsourced stream"), services);
    }

    /// <summary>
    /// What every subscribing endpoint (each transport, queues and topics) carries: the per-client limits, no output
    /// caching (<see cref="Uncached"/>), no request timeout, and not on the observability listener.
    /// </summary>
    private static TBuilder Subscribing<TBuilder>(TBuilder endpoint, IServiceProvider services)
        where TBuilder : IEndpointConventionBuilder
    {
        Uncached(endpoint);
        // An application's UseRequestTimeouts with a default policy (seconds, for its own requests) cancelled every stream
        // and waiting poll at that timeout: a stream ended without a word, a poll was answered 200 with an empty body. A
        // stream's life is bounded by the gateway's own settings (poll.wait, server.write_timeout, auth.end_at_expiry).
        endpoint.DisableRequestTimeout();
        if (services.GetRequiredService<IOptions<MetricsOptions>>().Value.Address.Length > 0)
        {
            // metrics.address is the observability endpoints' listener: no stream there.
            endpoint.WithMetadata(new ListenerMetadata(Observability: false));
        }

        if (SubscribeRateLimitPolicy.AppliesTo(services.GetRequiredService<IOptions<LimitsOptions>>().Value))
        {
            // limits.streams_per_client, limits.subscribes_per_second: enforced by the rate limiting middleware (UseRateLimiter).
            endpoint.RequireRateLimiting(SubscribeRateLimitPolicy.Name);
        }

        return endpoint;
    }

    /// <summary>
    /// A subscribing endpoint's handler, held to the per-client limits also without the application's <c>UseRateLimiter</c>
    /// (<see cref="SubscribeRateLimitPolicy.Enforced"/>); itself when no limit is on.
    /// </summary>
    private static RequestDelegate Limited(IServiceProvider services, RequestDelegate handler) =>
        SubscribeRateLimitPolicy.AppliesTo(services.GetRequiredService<IOptions<LimitsOptions>>().Value)
            ? services.GetRequiredService<SubscribeRateLimitPolicy>().Enforced(handler)
            : handler;

    /// <summary>
    /// An SSE stream that an application's <c>UseResponseCompression</c> (with <c>text/event-stream</c> among its types and
    /// <c>EnableForHttps</c>) does not compress over HTTPS. Over HTTP/2 a message is acknowledged once the client's TCP has
    /// the stream's body up to its end, counted in the bytes the stream wrote: compressed on the way out, a compressible
    /// message's end was never reached (never acknowledged while the stream lived, held against the prefetch, and
    /// everything came again after it), an incompressible one's was reached too early. And one compressed stream mixing
    /// messages of several senders is what BREACH reads secrets from, the reason compression is off over HTTPS by default.
    /// Over plain HTTP (HTTP/1.1 only, acknowledged by the connection's own bytes) the application's choice holds.
    /// </summary>
    private static RequestDelegate UncompressedOverHttps(RequestDelegate handler) => context =>
    {
        if (context.Features.Get<IHttpsCompressionFeature>() is { } compression)
        {
            compression.Mode = HttpsCompressionMode.DoNotCompress;
        }

        return handler(context);
    };

    /// <summary>
    /// Maps the WebSocket endpoint at <paramref name="path"/>, or at <c>ws.path</c> when it is null: the same
    /// subscriptions as the SSE stream, one JSON text frame per message (see README "Transports"); and, unless
    /// <c>topics.path</c> is empty, topics below it (<c>/ws/topics/NAME</c>). The endpoint brings ASP.NET Core's
    /// WebSocket middleware along; the application needs no <c>UseWebSockets</c>. Conventions added to the returned builder
    /// apply to both endpoints.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is not an absolute URL path without route syntax.</exception>
    /// <exception cref="InvalidOperationException">No path is given and <c>ws.path</c> is empty (switched off).</exception>
    public static IEndpointConventionBuilder MapEventsourcedWebSockets(this IEndpointRouteBuilder endpoints, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        path = CheckedPath(path ?? services.GetRequiredService<IOptions<WebSocketTransportOptions>>().Value.Path, "ws.path", nameof(path));
        var endpoint = services.GetRequiredService<WebSocketEndpoint>();
        // Keepalive is set per connection when it is accepted (server.heartbeat); origins are checked by the endpoint itself.
        var queues = WebSocketPipeline(endpoints);
        queues.Run(Limited(services, endpoint.HandleAsync));
        var builder = Subscribing(endpoints.Map(path, queues.Build()).WithDisplayName("eventsourced websocket"), services)
            .WithMetadata(WebSocketRefusal.EndpointMarker);
        services.GetRequiredService<MappedEndpoints>().WebSocketsAt(builder);
        // Topics over WebSockets: the topics path under the WebSocket path (/ws + /topics/ + NAME).
        var topicsPath = services.GetRequiredService<IOptions<TopicOptions>>().Value.Path;
        if (topicsPath.Length > 0)
        {
            var topics = WebSocketPipeline(endpoints);
            topics.Run(Limited(services, endpoint.HandleTopicAsync));
            var topicsBuilder = Subscribing(
                endpoints.Map(path.TrimEnd('/') + topicsPath + "{**" + TopicTarget.RouteParameter + "}", topics.Build())
                    .WithDisplayName("eventsourced websocket topics"),
                services).WithMetadata(WebSocketRefusal.EndpointMarker);
            // What the application adds to the returned builder (RequireAuthorization, RequireCors, ...) holds for the topics too.
            return new ConventionsForBoth(builder, topicsBuilder);
        }

        return builder;
    }

    /// <summary>Conventions added to one endpoint builder applied to two endpoints: the WebSocket queues and topics.</summary>
    private sealed class ConventionsForBoth(IEndpointConventionBuilder first, IEndpointConventionBuilder second) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            first.Add(convention);
            second.Add(convention);
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            first.Finally(finallyConvention);
            second.Finally(finallyConvention);
        }
    }

    /// <summary>
    /// Maps the long-poll endpoint at <paramref name="path"/>, or at <c>poll.path</c> when it is null: the same
    /// subscriptions as the SSE stream, each poll answered with a JSON array of messages (see README "Transports").
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is not an absolute URL path without route syntax.</exception>
    /// <exception cref="InvalidOperationException">No path is given and <c>poll.path</c> is empty (switched off).</exception>
    public static IEndpointConventionBuilder MapEventsourcedLongPolling(this IEndpointRouteBuilder endpoints, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        path = CheckedPath(path ?? services.GetRequiredService<IOptions<LongPollingOptions>>().Value.Path, "poll.path", nameof(path));
        var builder = Subscribing(endpoints.Map(path, Limited(services, services.GetRequiredService<PollEndpoint>().HandleAsync)).WithDisplayName("eventsourced long-poll"), services);
        services.GetRequiredService<MappedEndpoints>().LongPollsAt(builder);
        return builder;
    }

    /// <summary>
    /// ASP.NET Core's WebSocket middleware, upgrading to a connection whose writes a session can cork (<see cref="CorkedStream"/>),
    /// or, over HTTP/2, to a stream whose written bytes are counted (<see cref="CountingConnectFeature"/>). Where the
    /// application's pipeline has a <c>UseWebSockets</c> of its own before the endpoint, the WebSocket feature that middleware
    /// set (over the request's own upgrade, which it had already taken) is replaced by this one's: with it the gateway's
    /// WebSocket read nothing through its checks (a frame header declaring more than <c>ws.max_message_size</c>, a close reason
    /// that is not UTF-8) and counted nothing an HTTP/2 stream wrote. The application's middleware still refused the origins
    /// its options do not allow, before the endpoint ran; its keep-alive never applied here (<c>server.heartbeat</c> does).
    /// </summary>
    private static IApplicationBuilder WebSocketPipeline(IEndpointRouteBuilder endpoints) => endpoints.CreateApplicationBuilder()
        .Use(next => context =>
        {
            if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            {
                context.Features.Set<IHttpUpgradeFeature>(new CorkingUpgradeFeature(upgrade));
                context.Features.Set<IHttpWebSocketFeature>(null);
            }
            else if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
            {
                context.Features.Set<IHttpExtendedConnectFeature>(new CountingConnectFeature(connect));
                context.Features.Set<IHttpWebSocketFeature>(null);
            }

            return next(context);
        })
        .UseWebSockets();

    private static string CheckedPath(string path, string key, string parameter)
    {
        if (path.Length == 0)
        {
            throw new InvalidOperationException($"{key} is empty (the endpoint is switched off): pass a path to map it anyway");
        }

        return UrlPath.Check(path) is { } problem ? throw new ArgumentException($"eventsourced path {problem}", parameter) : path;
    }

    /// <summary>
    /// Maps topic streams at <paramref name="path"/>, or at <c>topics.path</c> when it is null (nothing when that is
    /// empty): <c>GET {path}NAME</c> subscribes to topic NAME. The path must end in <c>/</c>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is not an absolute URL path ending in <c>/</c>, without route syntax.</exception>
    public static IEndpointConventionBuilder? MapEventsourcedTopics(this IEndpointRouteBuilder endpoints, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        path ??= services.GetRequiredService<IOptions<TopicOptions>>().Value.Path;
        if (path.Length == 0)
        {
            return null;
        }

        if (TopicsPath.Check(path) is { } problem)
        {
            throw new ArgumentException($"eventsourced topics path {problem}", nameof(path));
        }

        var stream = services.GetRequiredService<SseEndpoint>();
        var builder = Subscribing(endpoints.Map(path + "{**" + TopicTarget.RouteParameter + "}", Limited(services, UncompressedOverHttps(stream.HandleTopicAsync))).WithDisplayName("eventsourced topics"), services);
        services.GetRequiredService<MappedEndpoints>().TopicsAt(builder);
        return builder;
    }

    /// <summary>
    /// <c>metrics.path</c>, <c>metrics.debug_vars</c>, <c>health.live</c> and <c>health.ready</c>, each unless
    /// switched off (empty); their paths were checked with the rest of the configuration (they differ from each other
    /// and from <c>server.path</c>). Literal routes, so they take precedence over a catch-all stream path, and only at their
    /// exact spelling (<see cref="ExactPathMatcherPolicy"/>): <c>/METRICS</c> or <c>/metrics/</c> is just another
    /// path. <c>/metrics</c> is prometheus-net's exporter over the gateway's own registry, in the Prometheus text format (OpenMetrics is
    /// not offered), never cached, one connection per scrape. Where the application maps a literal route of its own at one of these
    /// paths (prometheus-net's <c>MapMetrics()</c>, <c>MapHealthChecks("/healthz")</c>), the application's answers there.
    /// </summary>
    public static IEndpointRouteBuilder MapEventsourcedObservability(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.ServiceProvider.GetRequiredService<MappedEndpoints>().ObservabilityMapped();
        MapObservability(endpoints, endpoints.ServiceProvider.GetRequiredService<IOptions<MetricsOptions>>().Value, endpoints.ServiceProvider.GetRequiredService<IOptions<HealthOptions>>().Value);
        return endpoints;
    }

    private static void MapObservability(IEndpointRouteBuilder endpoints, MetricsOptions metrics, HealthOptions health)
    {
        var services = endpoints.ServiceProvider;
        var mapped = services.GetRequiredService<MappedEndpoints>();
        var token = metrics.Token.Length > 0 ? new ObservabilityToken(metrics.Token) : null;
        if (metrics.Path.Length > 0)
        {
            var exporter = new MetricServerMiddleware.Settings
            {
                Registry = services.GetRequiredKeyedService<CollectorRegistry>(GatewayMetrics.RegistryKey),
                EnableOpenMetrics = false,
            };
            var exposition = endpoints.CreateApplicationBuilder()
                .Use(next => context =>
                {
                    context.Response.Headers.CacheControl = "no-store";
                    context.Response.Headers.XContentTypeOptions = "nosniff";
                    // A new connection per scrape keeps the exported Kestrel and hosting series alive (FrameworkMetersExport.ExpireAfter).
                    // HTTP/2 has no Connection header (Kestrel would drop it with a warning).
                    if (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
                    {
                        context.Response.Headers.Connection = "close";
                    }

                    return next(context);
                })
                .UseMiddleware<MetricServerMiddleware>(exporter)
                .Build();
            Observability(
                mapped,
                OnOwnListener(endpoints.MapMethods(metrics.Path, [HttpMethods.Get, HttpMethods.Head], ObservabilityToken.Protect(token, exposition)), metrics, token),
                OnOwnListener(OtherMethods(endpoints, metrics.Path, token), metrics, token),
                new ExactPathMetadata(metrics.Path, "metrics.path"),
                "eventsourced metrics");
        }

        if (metrics.DebugVars.Length > 0)
        {
            Observability(
                mapped,
                OnOwnListener(endpoints.MapMethods(metrics.DebugVars, [HttpMethods.Get, HttpMethods.Head], ObservabilityToken.Protect(token, services.GetRequiredService<DebugVarsEndpoint>().HandleAsync)), metrics, token),
                OnOwnListener(OtherMethods(endpoints, metrics.DebugVars, token), metrics, token),
                new ExactPathMetadata(metrics.DebugVars, "metrics.debug_vars"),
                "eventsourced debug vars");
        }

        if (health.Live.Length > 0)
        {
            Observability(
                mapped,
                MapHealth(endpoints, health.Live, _ => false).WithMetadata(ReadOnly),
                Anonymous(Unlimited(Uncached(OtherMethods(endpoints, health.Live, token: null)))),
                new ExactPathMetadata(health.Live, "health.live"),
                "eventsourced liveness");
        }

        if (health.Ready.Length > 0)
        {
            Observability(
                mapped,
                MapHealth(endpoints, health.Ready, check => check.Tags.Contains(BrokerReadinessCheck.Tag)).WithMetadata(ReadOnly),
                Anonymous(Unlimited(Uncached(OtherMethods(endpoints, health.Ready, token: null)))),
                new ExactPathMetadata(health.Ready, "health.ready"),
                "eventsourced readiness");
        }
    }

    /// <summary>
    /// An observability path's two endpoints: <paramref name="served"/>, its own methods, and <paramref name="otherMethods"/>'
    /// refusal (<see cref="OtherMethods"/>), both matched on the exact path only (<see cref="ExactPathMatcherPolicy"/>).
    /// </summary>
    private static void Observability(MappedEndpoints mapped, IEndpointConventionBuilder served, IEndpointConventionBuilder otherMethods, ExactPathMetadata path, string name)
    {
        mapped.ObservabilityAt(served.WithMetadata(path).WithDisplayName(name), path.Key);
        otherMethods.WithMetadata(path).WithDisplayName($"{name}, other methods");
    }

    /// <summary>
    /// Every method an observability endpoint at <paramref name="path"/> does not take (they take <c>GET</c> and <c>HEAD</c>),
    /// refused as the gateway's own program refuses it: the token's <c>401</c> without <c>metrics.token</c>'s token, else
    /// <c>405</c> with its reason and <c>Allow</c>. In an application of one's own, where the program's
    /// <see cref="Http.UnservedRequests"/> does not run, routing answered its own empty <c>405</c>, whose <c>Allow</c> told a client
    /// without the token that the path is served. Ordered after the endpoints of the default order (0): where one takes the request (the
    /// endpoint's own method, a stream at a <c>server.path</c> ending in <c>/</c>), that one answers, as before.
    /// </summary>
    private static IEndpointConventionBuilder OtherMethods(IEndpointRouteBuilder endpoints, string path, ObservabilityToken? token)
    {
        var endpoint = endpoints.Map(path, context =>
        {
            if (token is not null && !token.Admits(context))
            {
                return token.ChallengeAsync(context);
            }

            context.Response.Headers.Allow = "GET, HEAD";
            return StatusReason.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed");
        });
        endpoint.Add(static builder => ((RouteEndpointBuilder)builder).Order = 1);
        return endpoint;
    }

    /// <summary>
    /// ASP.NET Core's health check endpoint (<c>MapHealthChecks</c>: status codes, no caching), over the gateway's own checks
    /// (<see cref="GatewayHealthChecks"/>) instead of the application's.
    /// </summary>
    private static IEndpointConventionBuilder MapHealth(IEndpointRouteBuilder endpoints, string path, Func<HealthCheckRegistration, bool> predicate)
    {
        var options = Options.Create(new HealthCheckOptions { Predicate = predicate, ResponseWriter = HealthResponseWriter.WriteAsync });
        var pipeline = endpoints.CreateApplicationBuilder()
            .UseMiddleware<HealthCheckMiddleware>(options, endpoints.ServiceProvider.GetRequiredService<GatewayHealthChecks>())
            .Build();
        var endpoint = endpoints.Map(path, pipeline);
        Uncached(endpoint);
        Unlimited(endpoint);
        return Anonymous(endpoint);
    }

    /// <summary>
    /// Out of the application's authorization (a fallback policy requiring a signed-in user, <c>RequireAuthorization()</c> on
    /// a group): a probe or a scrape cannot sign in. The health probes were sent to a cookie scheme's sign-in page (a <c>302</c>
    /// that a kubelet follows to a <c>200</c>: ready whatever the broker) or refused by a bearer scheme; a scrape with
    /// <c>metrics.token</c>'s token was refused by the application's own bearer scheme. For the health probes, and for the
    /// metrics when <c>metrics.token</c> guards them; without a token the metrics stay under the application's policy.
    /// </summary>
    private static IEndpointConventionBuilder Anonymous(IEndpointConventionBuilder endpoint) => endpoint.AllowAnonymous();

    /// <summary>
    /// Out of the application's rate limiting (<c>UseRateLimiter</c>): a <c>GlobalLimiter</c> of the application counts the
    /// gateway's streams too, each holding its lease for its whole life, and refused the probes and the scrape once the
    /// streams held every lease (its <c>RejectionStatusCode</c>, 503 by default): an orchestrator then restarted a live
    /// gateway for serving as many streams as the application allowed. The streams stay counted, as the application asked.
    /// </summary>
    private static IEndpointConventionBuilder Unlimited(IEndpointConventionBuilder endpoint) => endpoint.DisableRateLimiting();

    /// <summary>
    /// Out of the application's output cache (<c>UseOutputCache</c> with a base policy such as
    /// <c>AddBasePolicy(b => b.Expire(...))</c> caches every GET that ends in a 200, whatever its <c>Cache-Control</c>): a
    /// stream or long-poll that ended was stored and replayed to the next request for the same URL, another user's messages
    /// included (a cookie's token does not vary the key), without a subscription; a readiness probe stayed ready after the
    /// broker was gone. The endpoint's own policy runs after the base policies, so it switches the cache off for it.
    /// </summary>
    private static IEndpointConventionBuilder Uncached(IEndpointConventionBuilder endpoint) => endpoint.CacheOutput(policy => policy.NoCache());

    /// <summary>Health checks read state: GET and HEAD (MapHealthChecks alone takes every method, so DELETE /readyz was a 200).</summary>
    private static readonly HttpMethodMetadata ReadOnly = new([HttpMethods.Get, HttpMethods.Head]);

    /// <summary>
    /// With <c>metrics.address</c> set, the endpoint answers only there. With <c>metrics.token</c>, the token is in its
    /// metadata: a method it does not take is refused with the <c>401</c> too (<see cref="Http.UnservedRequests"/>).
    /// </summary>
    private static IEndpointConventionBuilder OnOwnListener(IEndpointConventionBuilder endpoint, MetricsOptions metrics, ObservabilityToken? token)
    {
        Uncached(endpoint);
        Unlimited(endpoint);
        if (token is not null)
        {
            Anonymous(endpoint.WithMetadata(token));
        }

        return metrics.Address.Length > 0 ? endpoint.WithMetadata(new ListenerMetadata(Observability: true)) : endpoint;
    }
}
