using Microsoft.Extensions.Primitives;

namespace Eventsourced.Http;

/// <summary>
/// The page origins allowed to subscribe, read from the CORS header the gateway already sends
/// (<c>header.cors</c> <c>Access-Control-Allow-Origin</c>: <c>*</c>, or origins separated by commas or spaces).
/// Browsers enforce CORS on SSE and polling themselves, but not on WebSockets: a page of any origin may open
/// one, with the user's cookies. So the WebSocket endpoint checks the upgrade's <c>Origin</c> here. A request
/// without <c>Origin</c> is not from a browser page and passes; an absent or empty setting allows no page.
/// </summary>
internal sealed class AllowedOrigins
{
    private const string AllowOriginHeader = "Access-Control-Allow-Origin";

    private readonly bool _any;
    private readonly HashSet<string> _origins;

    public AllowedOrigins(IReadOnlyDictionary<string, string> cors)
    {
        ArgumentNullException.ThrowIfNull(cors);
        var value = cors.FirstOrDefault(h => string.Equals(h.Key, AllowOriginHeader, StringComparison.OrdinalIgnoreCase)).Value ?? string.Empty;
        var origins = value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        _any = origins.Contains("*");
        _origins = new HashSet<string>(origins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Whether a request carrying <paramref name="origin"/> (the <c>Origin</c> header) may subscribe.</summary>
    public bool Allows(StringValues origin) =>
        StringValues.IsNullOrEmpty(origin) || _any || (origin.Count == 1 && _origins.Contains(origin[0]!));
}
