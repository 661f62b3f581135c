namespace Eventsourced.Bench.Measure;

/// <summary>The nearest-rank quantile: the smallest value with at least a share <c>q</c> of the values at or below it.</summary>
internal static class NearestRank
{
    /// <summary><paramref name="sorted"/> in ascending order and not empty; <paramref name="q"/> = 1 is the maximum.</summary>
    public static T Of<T>(IReadOnlyList<T> sorted, double q) =>
        sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}
