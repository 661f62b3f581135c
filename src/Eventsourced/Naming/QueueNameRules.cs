using System.Text;

namespace Eventsourced.Naming;

/// <summary>
/// What the broker accepts as a queue name, and what could not be meant: not empty, at most 255 UTF-8 bytes,
/// not the reserved <c>amq.</c> prefix (in any case) nor the gateway's lock queues' one, no control characters, no characters that make a name look
/// like another (<see cref="QueueNameResolver.HasInvisibleCharacters"/>), no space at either end (<see cref="EdgeSpace"/>). Queue names and topic names (a topic is a
/// stream queue) are checked alike.
/// </summary>
internal static class QueueNameRules
{
    public const int MaxBytes = 255;

    /// <summary>Why <paramref name="name"/> cannot be used, or null when it can.</summary>
    /// <param name="what">How the reason calls the name: "queue name", "topic name".</param>
    /// <param name="maxBytes">At most this many UTF-8 bytes (less than <see cref="MaxBytes"/> when a prefix is added to the name).</param>
    /// <param name="reservedPrefix">Whether the <c>amq.</c> and lock-queue checks apply (not when a prefix goes before the name).</param>
    public static string? Check(string name, string what = "queue name", int maxBytes = MaxBytes, bool reservedPrefix = true)
    {
        if (name.Length == 0)
        {
            return $"empty {what}";
        }

        if (Encoding.UTF8.GetByteCount(name) > maxBytes)
        {
            return $"{what} longer than {maxBytes} bytes";
        }

        if (reservedPrefix && name.StartsWith("amq.", StringComparison.OrdinalIgnoreCase))
        {
            return $"{what} must not start with 'amq.'";
        }

        if (reservedPrefix && name.StartsWith(QueueNameResolver.ReservedPrefix, StringComparison.Ordinal))
        {
            return $"{what} must not start with '{QueueNameResolver.ReservedPrefix}' (the gateway's lock queues)";
        }

        // C0, DEL and C1 (U+0080 to U+009F: NEL, CSI, ... invisible in listings, line breaks or escapes in some terminals).
        return name.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || name.AsSpan().ContainsAnyInRange('\u007f', '\u009f') ? $"{what} contains control characters"
            : QueueNameResolver.HasInvisibleCharacters(name) ? $"{what} contains invisible or bidirectional-control characters"
            : EdgeSpace(name, what);
    }

    /// <summary>
    /// Why <paramref name="value"/> cannot be (part of) a name: it starts or ends with a space, so that <c>news </c> would be
    /// another topic or queue than <c>news</c> and look the same wherever it is shown (a log, a listing, a page). Every other
    /// white space is refused already (a control character, or a space other than U+0020). Null when it can.
    /// </summary>
    /// <param name="what">How the reason calls it: "queue name", "query parameter 'id'", "destination".</param>
    public static string? EdgeSpace(string value, string what) =>
        value.Length > 0 && (value[0] == ' ' || value[^1] == ' ') ? $"{what} starts or ends with a space" : null;
}
