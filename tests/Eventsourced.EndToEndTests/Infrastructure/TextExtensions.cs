namespace Eventsourced.EndToEndTests.Infrastructure;

internal static class TextExtensions
{
    /// <summary>Replaces the only occurrence of <paramref name="oldText"/>; throws when it occurs zero or several times.</summary>
    public static string ReplaceOnce(this string text, string oldText, string newText)
    {
        var first = text.IndexOf(oldText, StringComparison.Ordinal);
        if (first < 0 || text.IndexOf(oldText, first + 1, StringComparison.Ordinal) >= 0)
        {
            throw new InvalidOperationException(
                $"expected `{oldText}` exactly once ({(first < 0 ? "not found" : "found more than once")}); was the example changed?");
        }

        return string.Concat(text.AsSpan(0, first), newText, text.AsSpan(first + oldText.Length));
    }
}
