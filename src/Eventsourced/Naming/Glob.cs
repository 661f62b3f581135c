namespace Eventsourced.Naming;

/// <summary>
/// One glob match for the gateway's own patterns: <c>topics.create</c> entries (<c>*</c> any run) and
/// <c>queue.pattern</c> read as the names it could give (a placeholder any run, <see cref="QueuePattern.CouldName"/>).
/// By hand because which positions are wildcards differs between the two (a <c>*</c> of a queue pattern's text is
/// only itself), which no glob library takes. Greedy, with backtracking to the last wildcard only: at most
/// quadratic in the name, whatever the pattern and the (client-chosen) name.
/// </summary>
internal static class Glob
{
    /// <summary>Whether <paramref name="name"/> matches <paramref name="pattern"/> (ordinal), a position for which <paramref name="isWildcard"/> holds matching any run.</summary>
    public static bool Matches(string pattern, Predicate<int> isWildcard, string name)
    {
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && isWildcard(p))
            {
                star = p++;
                mark = n;
            }
            else if (p < pattern.Length && pattern[p] == name[n])
            {
                p++;
                n++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && isWildcard(p))
        {
            p++;
        }

        return p == pattern.Length;
    }
}
