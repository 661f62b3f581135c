using Eventsourced.Configuration;

namespace Eventsourced.Http;

/// <summary>
/// <c>header.cors</c>' <c>Access-Control-Allow-Headers</c> against the request headers a page of another origin sends the
/// gateway: its token in <c>Authorization</c> (<c>auth.from_header</c>, with tokens) and a topic's last id in
/// <c>Last-Event-ID</c> (with topics). A browser asks first (a preflight) and sends neither unless the answer lists it:
/// the request is never made, and the gateway never sees it. Header maps merge by name, so a configuration written for
/// 0.1.0, whose default listed <c>Content-Type, Accept, Cache-Control</c> only, keeps both out when it names the header.
/// </summary>
internal static class AllowHeadersCheck
{
    public const string Header = "Access-Control-Allow-Headers";

    public const string Key = "header.cors." + Header;

    /// <summary>The request headers named above that the configured value does not allow, in that order; none without CORS.</summary>
    public static IReadOnlyList<string> Missing(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Whether CORS is on and credentials are allowed, as the gateway's own answers read them.
        var policy = new OriginPolicy(options.Header, []);
        if (policy.IsOff)
        {
            return []; // no page of another origin may read an answer anyway
        }

        var allowed = (options.Header.Cors.TryGetValue(Header, out var value) ? value : string.Empty)
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        // '*' allows any header name but Authorization, and only to requests without credentials (the Fetch standard).
        var wildcard = !policy.AllowsCredentials && allowed.Contains("*", StringComparer.Ordinal);
        var missing = new List<string>(2);
        if (options.Auth.FromHeader && options.Auth.Jwt.HasKeys && !allowed.Contains("Authorization", StringComparer.OrdinalIgnoreCase))
        {
            missing.Add("Authorization");
        }

        if (options.Topics.Path.Length > 0 && !wildcard && !allowed.Contains("Last-Event-ID", StringComparer.OrdinalIgnoreCase))
        {
            missing.Add("Last-Event-ID");
        }

        return missing;
    }
}
