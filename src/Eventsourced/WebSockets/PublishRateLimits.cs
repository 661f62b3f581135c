using System.Threading.RateLimiting;
using Eventsourced.Limits;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Eventsourced.WebSockets;

/// <summary>
/// <c>ws.publish_rate</c> and <c>ws.publish_burst</c> per publisher, over all its WebSockets on this instance: one token
/// bucket per verified token's <c>sub</c> (the sender its messages carry), or, without tokens, per client address
/// (<see cref="ClientAddress"/>). Per connection, one token published the rate on each of as many topic WebSockets as it
/// opened (10 sockets published 100 messages at once with <c>publish_burst: 10</c>). Buckets idle and full are dropped by
/// the partitioned limiter, which also refills them.
/// </summary>
internal sealed class PublishRateLimits(IOptions<WebSocketTransportOptions> options, IOptions<LimitsOptions> limits) : IAsyncDisposable
{
    private readonly int _ipv6Prefix = limits.Value.Ipv6Prefix;

    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.Value.PublishBurst,
            TokensPerPeriod = options.Value.PublishRate,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
        }));

    /// <summary>Whether <paramref name="publisher"/> (<see cref="PublisherKey"/>) may publish one more message now.</summary>
    public bool TryAcquire(string publisher)
    {
        using var lease = _limiter.AttemptAcquire(publisher);
        return lease.IsAcquired;
    }

    /// <summary>
    /// Who publishes, as far as the gateway can tell: the verified token's <paramref name="sender"/>, or without tokens
    /// (null) the client's address (an IPv6 network of <c>limits.ipv6_prefix</c> bits) of <paramref name="context"/>.
    /// The key of its rate budget, and what a publish's <c>message_id</c> is derived from (<see cref="MessageSender.MessageId"/>).
    /// </summary>
    public string PublisherKey(string? sender, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return sender is null ? "address\0" + ClientAddress.PartitionKey(context, _ipv6Prefix) : "sender\0" + sender;
    }

    public ValueTask DisposeAsync() => _limiter.DisposeAsync();
}
