namespace Eventsourced.Limits;

/// <summary>
/// Whether a new subscription may be opened for want of memory (<c>limits.max_memory_percent</c>). Each stream holds
/// about 25 KB; under a container's memory limit, enough of them (a client opening streams from many addresses, or a
/// busy day) ran the heap into the limit, and the runtime aborted with every stream on it. Refusing new ones near the
/// limit keeps the streams that are open, with room for them to end. What the heap holds is read from the last
/// collection (<see cref="GC.GetGCMemoryInfo()"/>), and the limit is the runtime's (in a container 75% of its memory
/// limit, or <c>DOTNET_GCHeapHardLimit</c>): the same two numbers the collector runs out of memory by.
/// </summary>
internal sealed class MemoryAdmission(int percent, TimeProvider time, Func<(long Used, long Available)>? read = null)
{
    /// <summary>How often a refusal may ask for a full collection (<see cref="Full"/>).</summary>
    internal static readonly TimeSpan CollectionInterval = TimeSpan.FromSeconds(10);

    private readonly Func<(long Used, long Available)> _read = read ?? LastCollection;
    private long _lastCollection = long.MinValue;
    private int _collectionsRequested;

    /// <summary>Full collections this admission asked for.</summary>
    public int CollectionsRequested => Volatile.Read(ref _collectionsRequested);

    /// <summary>
    /// True when the heap takes more than the configured share of the memory the runtime may use. While it does, a
    /// background full collection is asked for, at most every <see cref="CollectionInterval"/>: what the last collection
    /// left may be garbage now (the streams that held it ended since), and a gateway that refuses allocates too little to
    /// collect it soon by itself, so it went on refusing with its streams long gone.
    /// </summary>
    public bool Full(out long used, out long available)
    {
        if (percent <= 0)
        {
            (used, available) = (0, 0);
            return false;
        }

        (used, available) = _read();
        if (available <= 0 || used * 100 <= available * percent)
        {
            return false;
        }

        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastCollection);
        if ((last == long.MinValue || time.GetElapsedTime(last, now) >= CollectionInterval)
            && Interlocked.CompareExchange(ref _lastCollection, now, last) == last)
        {
            Interlocked.Increment(ref _collectionsRequested);
            GC.Collect(2, GCCollectionMode.Forced, blocking: false);
        }

        return true;
    }

    private static (long Used, long Available) LastCollection()
    {
        var info = GC.GetGCMemoryInfo();
        return (info.HeapSizeBytes, info.TotalAvailableMemoryBytes);
    }
}
