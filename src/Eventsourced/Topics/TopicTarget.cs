using System.Globalization;
using Eventsourced.Consuming;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Eventsourced.Topics;

/// <summary>
/// A topic (kind <c>topic</c>): named by the path after <c>topics.path</c> (the route value <see cref="RouteParameter"/>),
/// read from the event after the request's <c>Last-Event-ID</c> header (an EventSource sends it when it reconnects),
/// else after its <c>lastEventId</c> query parameter (a page's first connect), else from new events on. The id
/// <c>earliest</c> (as in Mercure) reads from the first event the stream keeps: a topic's whole history.
/// </summary>
internal sealed class TopicTarget(TopicHub hub) : ISubscriptionTarget
{
    /// <summary>The <see cref="ISubscriptionTarget.Kind"/> of topics (the key of their claim in <c>auth.read_claims</c>).</summary>
    public const string KindName = "topic";

    public const string RouteParameter = "topic";

    public const string LastEventIdHeader = "Last-Event-ID";

    public const string LastEventIdParameter = "lastEventId";

    /// <summary>The id that asks for every event the stream keeps.</summary>
    public const string Earliest = "earliest";

    private static readonly object ResumeKey = new();

    public string Kind => KindName;

    public bool TryResolve(HttpContext context, out string name, out string reason)
    {
        // The path keeps an encoded '/' encoded (%2F): a topic name may contain one.
        var routed = context.GetRouteValue(RouteParameter) as string ?? string.Empty;
        name = routed.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        if (!IsValidlyEncoded(context.Request))
        {
            reason = "topic name is not valid percent-encoded UTF-8";
            return false;
        }

        if (HasEscapedSlashText(context.Request, routed))
        {
            name = string.Empty;
            reason = "topic name must not contain the text '%2F' (it would read as '/')";
            return false;
        }

        if ((hub.CheckName(name) ?? SegmentProblem(name)) is { } problem)
        {
            reason = problem;
            return false;
        }

        if (!TryResumePoint(context.Request, out var after, out reason))
        {
            return false;
        }

        context.Items[ResumeKey] = after;
        return true;
    }

    public async Task<ISubscription> OpenAsync(HttpContext context, string name, IFrameFormat format, CancellationToken cancellationToken) =>
        await hub.SubscribeAsync(name, context.Items[ResumeKey] as long?, format, cancellationToken);

    /// <summary>
    /// Whether the request's path, as the client sent it, is valid percent-encoded UTF-8. The server leaves an escape that
    /// decodes to no UTF-8 (<c>%FF</c>, an encoded surrogate <c>%ED%A0%80</c>) undecoded in the path, so the name would read
    /// like its valid spelling (<c>%25FF</c>): refused, as such a queue name is (<see cref="Naming.RequestValues"/>).
    /// </summary>
    internal static bool IsValidlyEncoded(HttpRequest request) =>
        RawPath(request) is not { } raw || Naming.RequestValues.TryDecode(raw, plusIsSpace: false, out _);

    /// <summary>
    /// Whether the name holds the text <c>%2F</c> that the client did not send as an encoded '/': the server decodes
    /// <c>%252F</c> (and <c>%25%32%46</c>) to <c>%2F</c>, the very text it leaves for an encoded '/', so
    /// <c>/topics/a%252Fb</c> would read as topic <c>a/b</c>, a second spelling of <c>/topics/a%2Fb</c>.
    /// </summary>
    internal static bool HasEscapedSlashText(HttpRequest request, string routed) =>
        RawPath(request) is { } raw && EncodedSlashes(routed) > EncodedSlashes(raw);

    /// <summary>
    /// Why a name with a <c>/</c> in it would be another topic than the one it reads as, or null: an empty segment
    /// (<c>/topics/news/</c> is the topic <c>news/</c>, not <c>news</c>; <c>/topics/a//b</c> is not <c>a/b</c>) or a
    /// <c>.</c> or <c>..</c> segment. The server removes dot segments from the path before routing (<c>/topics/a/../b</c>
    /// is the topic <c>b</c>), but not those written with an encoded <c>/</c> (<c>/topics/a%2F..%2Fb</c>, the topic
    /// <c>a/../b</c>): a second, empty topic whose URL looks like the first's, that a page would wait on for ever.
    /// </summary>
    internal static string? SegmentProblem(string name)
    {
        if (!name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0)
            {
                return "topic name has an empty segment (a '/' at its start or end, or '//'): 'news/' would be another topic than 'news'";
            }

            if (segment is "." or "..")
            {
                return "topic name has a '.' or '..' segment: 'a/../b' would be another topic than 'b'";
            }
        }

        return null;
    }

    /// <summary>The request's path as the client sent it; null when the server does not say.</summary>
    private static string? RawPath(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            return null;
        }

        var query = raw.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? raw : raw[..query];
    }

    private static int EncodedSlashes(string text)
    {
        var count = 0;
        for (var at = text.IndexOf("%2F", StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf("%2F", at + 3, StringComparison.OrdinalIgnoreCase))
        {
            count++;
        }

        return count;
    }

    /// <summary>The id of the last event the client has, if it says: an offset of the topic's stream.</summary>
    internal static bool TryResumePoint(HttpRequest request, out long? after, out string reason)
    {
        after = null;
        reason = string.Empty;
        var headers = request.Headers[LastEventIdHeader];
        var (source, values) = headers.ToString() is { Length: > 0 }
            ? (LastEventIdHeader, headers)
            : (LastEventIdParameter, request.Query[LastEventIdParameter]);
        if (values.Count > 1)
        {
            // Ambiguous, as every input given twice: two ids read as "5,6", which named neither.
            reason = source == LastEventIdHeader ? $"header '{source}' given more than once" : $"query parameter '{source}' given more than once";
            return false;
        }

        var text = values.ToString().Trim();
        if (text.Length == 0)
        {
            return true;
        }

        if (string.Equals(text, Earliest, StringComparison.Ordinal))
        {
            after = -1; // the first offset of a stream is 0: "after -1" is from the first event it keeps
            return true;
        }

        if (text.All(char.IsAsciiDigit) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            after = offset;
            return true;
        }

        // The client's text, as the refusal quotes it: visible ASCII only, like the header, so that control characters
        // (an escape sequence, a CR) reach neither the body nor the log.
        var shown = Http.StatusReason.AsHeaderValue(text.Length <= 40 ? text : text[..40] + "...");
        reason = $"{source} must be the id of one of the topic's events (a number) or earliest, got '{shown}'";
        return false;
    }
}
