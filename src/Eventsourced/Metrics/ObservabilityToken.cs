using System.Security.Cryptography;
using System.Text;
using Eventsourced.Http;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Metrics;

/// <summary>
/// <c>metrics.token</c>: <c>/metrics</c> and <c>/debug/vars</c> answer only <c>Authorization: Bearer TOKEN</c>
/// (Prometheus: <c>authorization: {credentials: TOKEN}</c>); anything else gets <c>401</c> with
/// <c>WWW-Authenticate: Bearer</c> and a reason. A static secret compared in constant time, so a plain comparison
/// in code, not a token library: there is nothing to parse or verify.
/// </summary>
internal static class ObservabilityToken
{
    public static RequestDelegate Protect(string token, RequestDelegate next)
    {
        if (token.Length == 0)
        {
            return next;
        }

        var expected = Encoding.UTF8.GetBytes(token);
        return async context =>
        {
            var given = context.Request.Headers.Authorization;
            // The scheme's name is case-insensitive (RFC 9110, 11.1), as subscribers' tokens are read; the token is
            // compared in constant time.
            if (given.Count == 1 && given[0] is { } value
                && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(value[7..]), expected))
            {
                await next(context);
                return;
            }

            var reason = given.Count == 0 ? "bearer token required" : "wrong bearer token";
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"eventsourced\"";
            await StatusReason.WriteAsync(context, StatusCodes.Status401Unauthorized, reason);
        };
    }
}
