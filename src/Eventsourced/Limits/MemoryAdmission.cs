namespace Eventsourced.Limits;

/// <summary>
/// Whether a new subscription may be opened for want of memory (<c>limits.max_memory_percent</c>). Each stream holds
/// about 25 KB; under a container's memory limit, enough of them (a client opening streams from many addresses, or a
/// busy day) ran the heap into the limit, and the runtime aborted with every stream on it. Refusing new ones near the
/// limit keeps the streams that are open, with room for them to end. The heap's size is read from the last collection
/// (<see cref="GC.GetGCMemoryInfo()"/>), free space between live objects included (judged without it, a gateway let
/// streams in until the runtime aborted), and the limit is the runtime's (in a container 75% of its memory limit, or
/// <c>DOTNET_GCHeapHardLimit</c>): the same numbers the collector runs out of memory by.
/// </summary>
internal sealed class MemoryAdmission(int percent, TimeProvider time, Func<(long Used, long Free, long Available)>? read = null)
{
    /// <summary>How often a refusal may ask for a background full collection (<see cref="Full"/>).</summary>
    internal static readonly TimeSpan CollectionInterval = TimeSpan.FromSeconds(2);

    /// <summary>How often a refusal may ask for a compacting one, which stops every thread while it runs.</summary>
    internal static readonly TimeSpan CompactionInterval = TimeSpan.FromSeconds(10);

    private readonly Func<(long Used, long Free, long Available)> _read = read ?? LastCollection;
    private long _lastCollection = long.MinValue;
    private long _lastCompaction = long.MinValue;
    private int _collectionsRequested;
    private int _compactionsRequested;

    /// <summary>Full collections this admission asked for.</summary>
    public int CollectionsRequested => Volatile.Read(ref _collectionsRequested);

    /// <summary>Of those, the compacting ones (<see cref="Full"/>).</summary>
    public int CompactionsRequested => Volatile.Read(ref _compactionsRequested);

    /// <summary>
    /// True when the heap takes more than the configured share of the memory the runtime may use. While it does, a full
    /// collection is asked for, at most every <see cref="CollectionInterval"/>: what the last collection left may be
    /// garbage now (the streams that held it ended since), and a gateway that refuses allocates too little to collect it
    /// soon by itself. When it is free space already (a background collection sweeps, it does not compact), a
    /// compacting one, which gives it back, at most every <see cref="CompactionInterval"/>; else a background one, which
    /// finds it. So when every client left at once (a proxy restarted, a network blip) and comes back, it is served
    /// again within a few seconds: with one collection per 10 s, the first finding the streams still open and the
    /// second their garbage, the clients coming back were refused for 20 s.
    /// </summary>
    public bool Full(out long used, out long available)
    {
        if (percent <= 0)
        {
            (used, available) = (0, 0);
            return false;
        }

        (used, var free, available) = _read();
        if (available <= 0 || used * 100 <= available * percent)
        {
            return false;
        }

        var now = time.GetTimestamp();
        if (!Take(ref _lastCollection, CollectionInterval, now))
        {
            return true;
        }

        Interlocked.Increment(ref _collectionsRequested);
        if ((used - free) * 100 <= available * percent && Take(ref _lastCompaction, CompactionInterval, now))
        {
            Interlocked.Increment(ref _compactionsRequested);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        else
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: false);
        }

        return true;
    }

    /// <summary>Whether <paramref name="interval"/> has passed since <paramref name="last"/>, taking it for this caller alone.</summary>
    private bool Take(ref long last, TimeSpan interval, long now)
    {
        var seen = Interlocked.Read(ref last);
        return (seen == long.MinValue || time.GetElapsedTime(seen, now) >= interval)
            && Interlocked.CompareExchange(ref last, now, seen) == seen;
    }

    private static (long Used, long Free, long Available) LastCollection()
    {
        var info = GC.GetGCMemoryInfo();
        return (info.HeapSizeBytes, info.FragmentedBytes, info.TotalAvailableMemoryBytes);
    }
}
