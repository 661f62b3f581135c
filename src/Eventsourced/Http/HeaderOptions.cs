using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Http;

/// <summary>
/// The <c>header</c> section: response headers. Maps merge by header name (ignoring case) over earlier
/// sources; a header given an empty value is removed.
/// </summary>
public sealed class HeaderOptions
{
    /// <summary><c>header.cors</c>: sent on every response of the stream endpoint (200, 204, 4xx, 5xx).</summary>
    [ConfigurationKeyName("cors")]
    [MapRules<HeaderName, HeaderValue>(Entry = "header")]
    public Dictionary<string, string> Cors { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Access-Control-Allow-Origin"] = "*",
        ["Access-Control-Allow-Methods"] = "GET, OPTIONS",
        // Authorization and Last-Event-ID are not the original's: a fetch-based reader across origins sends its token
        // (auth.from_header) and a topic's last id in them, and the browser's preflight would refuse both.
        ["Access-Control-Allow-Headers"] = "Content-Type, Accept, Cache-Control, Authorization, Last-Event-ID",
        // Not the original's: lets a page's fetch read why it was refused (a CORS answer shows only a few headers).
        ["Access-Control-Expose-Headers"] = "X-Status-Reason, Retry-After, WWW-Authenticate",
    };

    /// <summary><c>header.sse</c>: sent with the 200 that opens a stream.</summary>
    [ConfigurationKeyName("sse")]
    [MapRules<HeaderName, HeaderValue>(Entry = "header")]
    public Dictionary<string, string> Sse { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Content-Type"] = "text/event-stream; charset=utf-8",
        ["Cache-Control"] = "no-cache",
        ["Transfer-Encoding"] = "identity",
        ["X-Accel-Buffering"] = "no",
    };
}
