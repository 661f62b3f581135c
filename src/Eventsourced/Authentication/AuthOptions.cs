using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Authentication;

/// <summary>
/// The <c>auth</c> section: who may subscribe to what. Without a key in <c>auth.jwt</c> the gateway is
/// unauthenticated, as the original was: anyone who can reach it reads any queue they can name. With a key,
/// every subscription needs a valid signed token (JWT).
/// </summary>
public sealed class AuthOptions
{
    /// <summary><c>auth.from_header</c>: read the token from <c>Authorization: Bearer TOKEN</c> (fetch-based clients).</summary>
    [ConfigurationKeyName("from_header")]
    public bool FromHeader { get; set; } = true;

    /// <summary><c>auth.from_query</c>: read the token from the query parameter <c>access_token</c> (EventSource cannot send headers).</summary>
    [ConfigurationKeyName("from_query")]
    public bool FromQuery { get; set; } = true;

    /// <summary><c>auth.from_cookie</c>: the name of a cookie to read the token from (set HttpOnly by the application); empty: none.</summary>
    [ConfigurationKeyName("from_cookie")]
    [ValueRule<CookieName>]
    public string FromCookie { get; set; } = string.Empty;

    /// <summary>
    /// <c>auth.read_claims</c>: per kind of subscription (<c>queue</c>, <c>topic</c>), the claim that lists the names
    /// (or patterns with <c>*</c>) a token may read. A kind without an entry: any valid token may read any name of it.
    /// </summary>
    [ConfigurationKeyName("read_claims")]
    [MapRules<SubscriptionKindName, ClaimName>(Entry = "kind", Names = [Consuming.QueueTarget.KindName, Topics.TopicTarget.KindName])]
    public Dictionary<string, string> ReadClaims { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["queue"] = "queues",
        ["topic"] = "topics",
    };

    /// <summary><c>auth.publish_claim</c>: the claim that lists the destinations (or patterns with <c>*</c>) a token may publish to; empty: any valid token may publish anywhere.</summary>
    [ConfigurationKeyName("publish_claim")]
    public string PublishClaim { get; set; } = "publish";

    /// <summary><c>auth.end_at_expiry</c>: a subscription ends when its token expires (the client then needs a new one).</summary>
    [ConfigurationKeyName("end_at_expiry")]
    public bool EndAtExpiry { get; set; } = true;

    /// <summary>
    /// <c>auth.application_user</c>: in an application embedding the gateway, the user its own authentication middleware
    /// signed in (<c>HttpContext.User</c>) is the subscriber, in place of a token: every subscription and publish needs one
    /// (else 401), and its claims are what <c>${claim:NAME}</c>, <c>read_claims</c> and <c>publish_claim</c> read. Excludes keys
    /// in <c>auth.jwt</c>; the gateway's own program, which signs nobody in, refuses it.
    /// </summary>
    [ConfigurationKeyName("application_user")]
    public bool ApplicationUser { get; set; }

    /// <summary>Whether every subscriber is someone: a verified token (a key in <c>auth.jwt</c>) or the application's signed-in user.</summary>
    internal bool IdentifiesSubscribers => Jwt.HasKeys || ApplicationUser;

    /// <summary><c>auth.jwt</c>: the keys tokens are verified with, and what else a token must satisfy.</summary>
    [ConfigurationKeyName("jwt")]
    public JwtOptions Jwt { get; set; } = new();
}
