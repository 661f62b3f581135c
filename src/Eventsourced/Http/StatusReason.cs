using Microsoft.AspNetCore.Http;

namespace Eventsourced.Http;

/// <summary>
/// The <c>X-Status-Reason</c> header every refusal of the gateway carries (streams, probes), next to the
/// same text in the body, so that a client that cannot read bodies (a browser's EventSource, a load
/// balancer's log) still learns why.
/// </summary>
internal static class StatusReason
{
    public const string Header = "X-Status-Reason";

    /// <summary>Answers <paramref name="status"/> with the reason in the header and as the (uncached) plain-text body.</summary>
    public static Task WriteAsync(HttpContext context, int status, string reason)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.Headers[Header] = AsHeaderValue(reason);
        response.Headers.CacheControl = "no-store";
        response.ContentType = "text/plain; charset=utf-8";
        // The reason may quote the request (a queue or topic name): a browser must never read it as anything but text.
        response.Headers.XContentTypeOptions = "nosniff";
        return response.WriteAsync(reason + "\n", context.RequestAborted);
    }

    /// <summary>Header values must be visible ASCII; a broker reply may quote a queue name that is not.</summary>
    public static string AsHeaderValue(string reason) =>
        string.Create(reason.Length, reason, static (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                span[i] = text[i] is >= ' ' and <= '~' ? text[i] : '?';
            }
        });
}
