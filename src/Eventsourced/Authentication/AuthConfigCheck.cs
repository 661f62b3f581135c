using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Naming;

namespace Eventsourced.Authentication;

/// <summary>The checks of <c>auth</c> that involve other keys, run with the rest of the configuration's checks.</summary>
internal static class AuthConfigCheck
{
    private const string ClaimsNeedIdentity =
        "${claim:...} needs verified tokens: configure a key in auth.jwt (secret, secrets, secret_files, public_keys or jwks_url), or auth.application_user in an application of your own";

    public static IEnumerable<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins)
    {
        var auth = options.Auth;
        var hasKeys = auth.Jwt.HasKeys;
        if (hasKeys && auth.ApplicationUser)
        {
            yield return new ConfigProblem(origins.Of("auth:application_user"), "auth.application_user",
                "the application's signed-in user and tokens (a key in auth.jwt) exclude each other: keep one");
        }

        if (!auth.IdentifiesSubscribers && QueuePatternUsesClaims(options.Queue.Pattern))
        {
            yield return new ConfigProblem(origins.Of("queue:pattern"), "queue.pattern", ClaimsNeedIdentity);
        }

        if (!auth.IdentifiesSubscribers)
        {
            for (var i = 0; i < options.Queue.Bind.Count; i++)
            {
                if (BindingUsesClaims(options.Queue.Bind[i]))
                {
                    var key = $"queue:bind:{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
                    yield return new ConfigProblem(origins.Of(key), $"queue.bind[{origins.Label(key, i)}]",
                        ClaimsNeedIdentity);
                }
            }
        }

        if (auth.FromCookie.Length > 0)
        {
            foreach (var problem in TokenCookieProblems(options, origins))
            {
                yield return problem;
            }
        }

        if (hasKeys && !auth.FromHeader && !auth.FromQuery && auth.FromCookie.Length == 0)
        {
            yield return new ConfigProblem(origins.Of("auth:from_header"), "auth.from_header",
                "tokens are required (auth.jwt has a key) but read from nowhere: keep auth.from_header or auth.from_query on, or name a cookie in auth.from_cookie");
        }
    }

    /// <summary>The gateway's own program signs nobody in: <c>auth.application_user</c> there would refuse every subscriber.</summary>
    public static IEnumerable<ConfigProblem> CheckProgram(GatewayOptions options, ConfigOrigins origins)
    {
        if (options.Auth.ApplicationUser)
        {
            yield return new ConfigProblem(origins.Of("auth:application_user"), "auth.application_user",
                "only an application embedding the gateway (AddEventsourced) signs users in; the gateway's own program verifies tokens: configure a key in auth.jwt instead");
        }
    }

    /// <summary>
    /// <c>${cookie:NAME}</c> where NAME is <c>auth.from_cookie</c>, the cookie the token comes in: as <c>${query:access_token}</c>
    /// (refused by the patterns' own rules), every queue name, binding or routing key built from it would carry the token into
    /// the broker's lists, the log and the exchange's readers.
    /// </summary>
    private static IEnumerable<ConfigProblem> TokenCookieProblems(GatewayOptions options, ConfigOrigins origins)
    {
        var cookie = options.Auth.FromCookie;
        var placeholder = $"'${{cookie:{cookie}}}' reads the subscriber's token (auth.from_cookie): ";
        if (Parsed(() => QueuePattern.Parse(options.Queue.Pattern)) is { } pattern && pattern.Cookies.Contains(cookie, StringComparer.Ordinal))
        {
            yield return new ConfigProblem(origins.Of("queue:pattern"), "queue.pattern", placeholder + QueuePattern.TokenInNames);
        }

        for (var i = 0; i < options.Queue.Bind.Count; i++)
        {
            var entry = options.Queue.Bind[i];
            if (Parsed(() => QueueBinding.Parse(entry)) is { } binding
                && binding.Exchange.Cookies.Concat(binding.RoutingKey.Cookies).Contains(cookie, StringComparer.Ordinal))
            {
                var key = $"queue:bind:{i.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
                yield return new ConfigProblem(origins.Of(key), $"queue.bind[{origins.Label(key, i)}]", placeholder + QueuePattern.TokenInNames);
            }
        }

        if (Parsed(() => WebSockets.RoutingKeyTemplate.Parse(options.Ws.PublishRoutingKey)) is { } template
            && template.Cookies.Contains(cookie, StringComparer.Ordinal))
        {
            yield return new ConfigProblem(origins.Of("ws:publish_routing_key"), "ws.publish_routing_key", placeholder + WebSockets.RoutingKeyTemplate.TokenInRoutingKeys);
        }
    }

    /// <summary>What <paramref name="parse"/> gives, or null when the value does not parse (its own rule reports that).</summary>
    private static T? Parsed<T>(Func<T?> parse)
        where T : class
    {
        try
        {
            return parse();
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static bool BindingUsesClaims(string binding) =>
        Parsed(() => QueueBinding.Parse(binding)) is { } parsed && (parsed.Exchange.UsesClaims || parsed.RoutingKey.UsesClaims);

    private static bool QueuePatternUsesClaims(string pattern) => Parsed(() => QueuePattern.Parse(pattern))?.UsesClaims == true;
}
