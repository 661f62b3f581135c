using System.Threading.RateLimiting;
using Eventsourced.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Eventsourced.Limits;

/// <summary>
/// ASP.NET Core's rate limiting for the stream endpoints: per client address (<see cref="ClientAddress"/>) a token
/// bucket of <c>limits.subscribes_per_second</c> subscribe attempts, chained with a concurrency limiter of
/// <c>limits.streams_per_client</c> leases held for the stream's whole life. Only <c>GET</c> (and an HTTP/2 WebSocket's
/// <c>CONNECT</c>) counts (a preflight or a refused method is not an attempt). A refusal is the gate's: <c>429</c>, <c>Retry-After</c>, <c>X-Status-Reason</c>,
/// CORS headers, outcome <c>rate_limited</c>.
/// </summary>
internal sealed class SubscribeRateLimitPolicy(IOptions<LimitsOptions> options) : IRateLimiterPolicy<string>
{
    public const string Name = "eventsourced-subscribe";

    /// <summary>What a client refused for holding too many streams is told to wait: streams end when their page goes.</summary>
    private static readonly TimeSpan StreamsRetryAfter = TimeSpan.FromSeconds(5);

    private readonly LimitsOptions _options = options.Value;

    /// <summary>Whether any per-client limit is on (the endpoints carry the policy only then).</summary>
    public static bool AppliesTo(LimitsOptions options) => options.StreamsPerClient > 0 || options.SubscribesPerSecond > 0;

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (rejected, _) =>
    {
        var context = rejected.HttpContext;
        var (reason, retryAfter) = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
            ? ("too many subscribe attempts from this address", wait)
            : ("too many streams from this address", StreamsRetryAfter);
        await context.RequestServices.GetRequiredService<SubscriptionGate>().RefuseTooManyAsync(context, reason, retryAfter);
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Items[Applied] = Applied;
        // GET, and CONNECT for a WebSocket over HTTP/2 (RFC 8441).
        var method = httpContext.Request.Method;
        return HttpMethods.IsGet(method) || (HttpMethods.IsConnect(method) && httpContext.WebSockets.IsWebSocketRequest)
            ? RateLimitPartition.Get(ClientAddress.PartitionKey(httpContext, _options.Ipv6Prefix), _ => NewLimiter())
            : RateLimitPartition.GetNoLimiter(string.Empty);
    }

    /// <summary>Marks a request whose limits ASP.NET Core's rate limiting middleware applied (it asked for its partition).</summary>
    private static readonly object Applied = new();

    /// <summary>The limiters <see cref="Enforced"/> applies where the application's pipeline has no <c>UseRateLimiter</c>.</summary>
    private PartitionedRateLimiter<HttpContext>? _own;

    /// <summary>
    /// <paramref name="endpoint"/>, limited by this policy also where the application never called <c>UseRateLimiter</c>
    /// (or called it where it cannot see the endpoint): an application embedding the gateway, following the README, got
    /// no <c>limits.subscribes_per_second</c> at all, without a word. Where the middleware applied the policy, the endpoint
    /// runs as it is, so nothing is counted twice.
    /// </summary>
    public RequestDelegate Enforced(RequestDelegate endpoint) => async context =>
    {
        if (context.Items.ContainsKey(Applied))
        {
            await endpoint(context);
            return;
        }

        var limiter = LazyInitializer.EnsureInitialized(ref _own, () => PartitionedRateLimiter.Create<HttpContext, string>(GetPartition));
        using var lease = await limiter.AcquireAsync(context, 1, context.RequestAborted);
        if (!lease.IsAcquired)
        {
            if (OnRejected is { } rejected)
            {
                await rejected(new OnRejectedContext { HttpContext = context, Lease = lease }, context.RequestAborted);
            }

            return;
        }

        await endpoint(context);
    };

    private RateLimiter NewLimiter()
    {
        var limiters = new List<RateLimiter>(2);
        if (_options.SubscribesPerSecond > 0)
        {
            limiters.Add(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = _options.SubscribesPerSecond,
                TokensPerPeriod = _options.SubscribesPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        }

        if (_options.StreamsPerClient > 0)
        {
            limiters.Add(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = _options.StreamsPerClient, QueueLimit = 0 }));
        }

        return limiters.Count == 1 ? limiters[0] : RateLimiter.CreateChained([.. limiters]);
    }
}
