using Eventsourced.Configuration;
using Eventsourced.Naming;

namespace Eventsourced.Authentication;

/// <summary>The checks of <c>auth</c> that involve other keys, run with the rest of the configuration's checks.</summary>
internal static class AuthConfigCheck
{
    public static IEnumerable<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins)
    {
        var auth = options.Auth;
        var hasKeys = auth.Jwt.HasKeys;
        if (!hasKeys && QueuePatternUsesClaims(options.Queue.Pattern))
        {
            yield return new ConfigProblem(origins.Of("queue:pattern"), "queue.pattern",
                "${claim:...} needs verified tokens: configure a key in auth.jwt (secret, secrets, secret_files, public_keys or jwks_url)");
        }

        if (hasKeys && !auth.FromHeader && !auth.FromQuery && auth.FromCookie.Length == 0)
        {
            yield return new ConfigProblem(origins.Of("auth:from_header"), "auth.from_header",
                "tokens are required (auth.jwt has a key) but read from nowhere: keep auth.from_header or auth.from_query on, or name a cookie in auth.from_cookie");
        }
    }

    private static bool QueuePatternUsesClaims(string pattern)
    {
        try
        {
            return QueuePattern.Parse(pattern).UsesClaims;
        }
        catch (FormatException)
        {
            return false; // reported by queue.pattern's own rule
        }
    }
}
