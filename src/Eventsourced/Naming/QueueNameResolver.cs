using System.Text;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Naming;

/// <summary>
/// Builds a subscriber's queue name from <c>queue.pattern</c> and the request, and rejects names the
/// broker would refuse or that could not be meant: missing parts, empty, over 255 UTF-8 bytes,
/// the reserved <c>amq.</c> prefix, control characters.
/// </summary>
internal sealed class QueueNameResolver(QueuePattern pattern)
{
    public const int MaxQueueNameBytes = 255;

    public bool TryResolve(HttpRequest request, out string queueName, out string reason)
    {
        if (!TryExpand(pattern, request, out queueName, out reason))
        {
            return false;
        }

        if (QueueNameRules.Check(queueName) is { } problem)
        {
            return Fail(problem, out queueName, out reason);
        }

        reason = string.Empty;
        return true;
    }

    /// <summary>
    /// The text of <paramref name="pattern"/> for <paramref name="request"/>: placeholders replaced by the request's
    /// values, unchecked; false with a reason when a value is missing.
    /// </summary>
    public static bool TryExpand(QueuePattern pattern, HttpRequest request, out string text, out string reason)
    {
        var name = new StringBuilder();
        foreach (var segment in pattern.Segments)
        {
            switch (segment.Kind)
            {
                case PatternSegmentKind.Literal:
                    name.Append(segment.Value);
                    break;
                case PatternSegmentKind.Query:
                    var values = request.Query[segment.Value];
                    if (values.Count == 0 || string.IsNullOrEmpty(values[0]))
                    {
                        return Fail($"missing query parameter '{segment.Value}'", out text, out reason);
                    }

                    name.Append(values[0]);
                    break;
                case PatternSegmentKind.Cookie:
                    var cookie = request.Cookies[segment.Value];
                    if (string.IsNullOrEmpty(cookie))
                    {
                        return Fail($"missing cookie '{segment.Value}'", out text, out reason);
                    }

                    name.Append(cookie);
                    break;
            }
        }

        text = name.ToString();
        reason = string.Empty;
        return true;
    }

    private static bool Fail(string why, out string queueName, out string reason)
    {
        queueName = string.Empty;
        reason = why;
        return false;
    }
}
