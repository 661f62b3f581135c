using Eventsourced.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Eventsourced.Sse;

/// <summary>
/// The configured <c>header.cors</c> and <c>header.sse</c>, prepared once. Headers that belong to the
/// HTTP server (framing and connection management, such as the original's
/// <c>Transfer-Encoding: identity</c>) are left to Kestrel, so they cannot break the response.
/// </summary>
internal sealed class SseResponseHeaders
{
    private static readonly HashSet<string> ServerOwned = new(StringComparer.OrdinalIgnoreCase)
    {
        "Transfer-Encoding", "Content-Length", "Connection", "Keep-Alive", "Upgrade", "Date", "Server", "Trailer",
    };

    public SseResponseHeaders(HeaderOptions options)
    {
        Cors = Prepare(options.Cors);
        CorsForRefusedOrigins = Cors.Where(h => !h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)).ToArray();
        Sse = Prepare(options.Sse);
        Ignored = options.Cors.Keys.Concat(options.Sse.Keys).Where(ServerOwned.Contains).ToArray();
    }

    public KeyValuePair<string, StringValues>[] Cors { get; }

    /// <summary><see cref="Cors"/> without the <c>Access-Control-*</c> headers: for a page of an origin that is not allowed.</summary>
    public KeyValuePair<string, StringValues>[] CorsForRefusedOrigins { get; }

    public KeyValuePair<string, StringValues>[] Sse { get; }

    /// <summary>Configured headers that Kestrel owns and that are therefore not sent as configured.</summary>
    public IReadOnlyList<string> Ignored { get; }

    public static void Apply(HttpResponse response, KeyValuePair<string, StringValues>[] headers)
    {
        var target = response.Headers;
        foreach (var (name, value) in headers)
        {
            target[name] = value;
        }
    }

    /// <summary>
    /// The configured headers to send as they are. <c>Access-Control-Allow-Origin</c> is not among them: it may be a list,
    /// answered per request by <see cref="OriginPolicy"/>.
    /// </summary>
    private static KeyValuePair<string, StringValues>[] Prepare(Dictionary<string, string> headers) =>
        headers.Where(h => !ServerOwned.Contains(h.Key) && h.Value.Length > 0 && !h.Key.Equals(OriginPolicy.AllowOriginHeader, StringComparison.OrdinalIgnoreCase))
            .Select(h => new KeyValuePair<string, StringValues>(h.Key, Sent(h.Key, h.Value)))
            .ToArray();

    /// <summary>
    /// A header's value as sent: <c>Access-Control-Allow-Credentials</c>, a boolean in any case (appsettings.json's
    /// <c>true</c> arrives as <c>True</c>), in lower case, the only spelling browsers take.
    /// </summary>
    private static string Sent(string name, string value) =>
        name.Equals(OriginPolicy.AllowCredentialsHeader, StringComparison.OrdinalIgnoreCase) ? value.Trim().ToLowerInvariant() : value;
}
