using System.Security.Cryptography;
using System.Text;
using Eventsourced.Http;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Metrics;

/// <summary>
/// <c>metrics.token</c>: <c>/metrics</c> and <c>/debug/vars</c> answer only <c>Authorization: Bearer TOKEN</c>
/// (Prometheus: <c>authorization: {credentials: TOKEN}</c>); anything else gets <c>401</c> with
/// <c>WWW-Authenticate: Bearer</c> and a reason, whatever its method (the endpoints' metadata, so that a method they do
/// not take is refused with the <c>401</c> too, not a <c>405</c> telling who has no token that the path is served). A
/// static secret, its SHA-256 compared in constant time (neither its content nor its length shows in the answer's
/// time), so a plain comparison in code, not a token library: there is nothing to parse or verify.
/// </summary>
internal sealed class ObservabilityToken(string token)
{
    // Hashes, so that the comparison takes as long whatever the length of what is given: FixedTimeEquals returns at once
    // for inputs of different lengths, which told a prober the token's length.
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary><paramref name="next"/> for requests with the token; a <c>401</c> for the others. No token: <paramref name="next"/>.</summary>
    public static RequestDelegate Protect(ObservabilityToken? token, RequestDelegate next) =>
        token is null
            ? next
            : context => token.Admits(context) ? next(context) : token.ChallengeAsync(context);

    /// <summary>Whether the request carries the token.</summary>
    public bool Admits(HttpContext context)
    {
        var given = context.Request.Headers.Authorization;
        // The scheme's name is case-insensitive (RFC 9110, 11.1), as subscribers' tokens are read; the token's hash is
        // compared in constant time.
        return given.Count == 1 && given[0] is { } value
            && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(value[7..])), _expected);
    }

    /// <summary>The <c>401</c>: <c>WWW-Authenticate: Bearer</c>, and whether a token was missing or wrong.</summary>
    public Task ChallengeAsync(HttpContext context)
    {
        var reason = context.Request.Headers.Authorization.Count == 0 ? "bearer token required" : "wrong bearer token";
        context.Response.Headers.Remove("Allow");
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"eventsourced\"";
        return StatusReason.WriteAsync(context, StatusCodes.Status401Unauthorized, reason);
    }
}
