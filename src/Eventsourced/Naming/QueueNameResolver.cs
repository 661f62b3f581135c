using System.Text;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Naming;

/// <summary>
/// Builds a subscriber's queue name from <c>queue.pattern</c> and the request, and rejects names the
/// broker would refuse or that could not be meant: missing parts, empty, over 255 UTF-8 bytes,
/// the reserved <c>amq.</c> prefix, the gateway's own lock queues' prefix (<see cref="ReservedPrefix"/>),
/// control characters.
/// </summary>
internal sealed class QueueNameResolver(QueuePattern pattern)
{
    public const int MaxQueueNameBytes = 255;

    /// <summary>The names of the gateway's lock queues (<c>Consuming.QueueLock</c>): never a subscriber's queue.</summary>
    public const string ReservedPrefix = "eventsourced.lock.";

    public bool TryResolve(HttpRequest request, out string queueName, out string reason)
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
                        return Fail($"missing query parameter '{segment.Value}'", out queueName, out reason);
                    }

                    name.Append(values[0]);
                    break;
                case PatternSegmentKind.Cookie:
                    var cookie = request.Cookies[segment.Value];
                    if (string.IsNullOrEmpty(cookie))
                    {
                        return Fail($"missing cookie '{segment.Value}'", out queueName, out reason);
                    }

                    name.Append(cookie);
                    break;
            }
        }

        queueName = name.ToString();
        if (queueName.Length == 0)
        {
            return Fail("empty queue name", out queueName, out reason);
        }

        if (Encoding.UTF8.GetByteCount(queueName) > MaxQueueNameBytes)
        {
            return Fail($"queue name longer than {MaxQueueNameBytes} bytes", out queueName, out reason);
        }

        if (queueName.StartsWith("amq.", StringComparison.OrdinalIgnoreCase))
        {
            return Fail("queue name must not start with 'amq.'", out queueName, out reason);
        }

        if (queueName.StartsWith(ReservedPrefix, StringComparison.Ordinal))
        {
            return Fail($"queue name must not start with '{ReservedPrefix}' (the gateway's lock queues)", out queueName, out reason);
        }

        if (queueName.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || queueName.Contains('\u007f'))
        {
            return Fail("queue name contains control characters", out queueName, out reason);
        }

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
