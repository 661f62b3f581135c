using System.Security.Claims;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Authentication;

/// <summary>
/// Who a request is (<see cref="User"/>: the verified token's claims, or an anonymous principal when the
/// gateway is unauthenticated) and until when (<see cref="Expires"/>: the token's <c>exp</c> plus the allowed
/// clock skew, and <see cref="KeyRemoved"/>: cancelled when the JWKS key that verified the token leaves its set); or why not: <see cref="Status"/> (401, or 400 for several tokens in one request) and a
/// <see cref="Reason"/> for <c>WWW-Authenticate</c>'s <c>error_description</c> and <c>X-Status-Reason</c>.
/// </summary>
internal readonly record struct AuthenticationResult(ClaimsPrincipal? User, DateTimeOffset? Expires, int Status, string Error, string Reason, CancellationToken KeyRemoved = default)
{
    public bool Succeeded => User is not null;

    public static AuthenticationResult Success(ClaimsPrincipal user, DateTimeOffset? expires, CancellationToken keyRemoved = default) =>
        new(user, expires, StatusCodes.Status200OK, string.Empty, string.Empty, keyRemoved);

    /// <summary>401 <c>invalid_token</c>: missing, malformed, expired or otherwise not valid.</summary>
    public static AuthenticationResult InvalidToken(string reason) => new(null, null, StatusCodes.Status401Unauthorized, "invalid_token", reason);

    /// <summary>401 without a bearer challenge: the embedding application signed nobody in (<c>auth.application_user</c>).</summary>
    public static AuthenticationResult NotSignedIn(string reason) => new(null, null, StatusCodes.Status401Unauthorized, string.Empty, reason);

    /// <summary>
    /// 503 without a bearer challenge: the token cannot be judged now (no key set fetched from <c>auth.jwt.jwks_url</c>
    /// yet); the client tries again, as while no broker connection is up.
    /// </summary>
    public static AuthenticationResult KeysUnavailable(string reason) => new(null, null, StatusCodes.Status503ServiceUnavailable, string.Empty, reason);

    /// <summary>400 <c>invalid_request</c> (RFC 6750 section 3.1): more than one token in one request.</summary>
    public static AuthenticationResult InvalidRequest(string reason) => new(null, null, StatusCodes.Status400BadRequest, "invalid_request", reason);
}
