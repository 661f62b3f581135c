using Eventsourced.Limits;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Limits;

public sealed class MemoryAdmissionTests
{
    private const long MiB = 1024 * 1024;

    private readonly FakeTimeProvider _time = new();
    private (long Used, long Free, long Available) _heap = (10 * MiB, 0, 100 * MiB);

    [Fact]
    public void Full_OnlyAboveTheShareOfTheMemoryTheRuntimeMayUse()
    {
        var admission = new MemoryAdmission(75, _time, () => _heap);
        _heap = (75 * MiB, 0, 100 * MiB);
        Assert.False(admission.Full(out _, out _));

        _heap = (76 * MiB, 0, 100 * MiB);
        Assert.True(admission.Full(out var used, out var available));
        Assert.Equal((76 * MiB, 100 * MiB), (used, available));
    }

    [Fact]
    public void Full_Off_NeverReadsTheHeap()
    {
        var admission = new MemoryAdmission(0, _time, () => throw new InvalidOperationException("read"));
        Assert.False(admission.Full(out _, out _));
    }

    [Fact]
    public void Full_AsksForAFullCollection_AtMostOncePerInterval_AndNotWhenThereIsRoom()
    {
        var admission = new MemoryAdmission(50, _time, () => _heap);
        _heap = (40 * MiB, 0, 100 * MiB);
        Assert.False(admission.Full(out _, out _));
        Assert.Equal(0, admission.CollectionsRequested);

        _heap = (90 * MiB, 10 * MiB, 100 * MiB);
        Assert.True(admission.Full(out _, out _));
        Assert.True(admission.Full(out _, out _));
        Assert.Equal(1, admission.CollectionsRequested);

        _time.Advance(MemoryAdmission.CollectionInterval);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal(2, admission.CollectionsRequested);
        Assert.Equal(0, admission.CompactionsRequested);
    }

    /// <summary>
    /// Streams that ended leave free space behind a background collection (it sweeps, it does not compact): counted in
    /// the heap's size, it kept a gateway refusing long after. Then a compacting collection is asked for.
    /// </summary>
    [Fact]
    public void Full_OfFreeSpace_AsksForACompactingCollection()
    {
        var admission = new MemoryAdmission(50, _time, () => _heap);
        _heap = (90 * MiB, 60 * MiB, 100 * MiB);
        Assert.True(admission.Full(out var used, out _));
        Assert.Equal(90 * MiB, used);
        Assert.Equal((1, 1), (admission.CollectionsRequested, admission.CompactionsRequested));
    }

    /// <summary>
    /// A compacting collection stops every thread: while free space stays (what a compaction cannot move, say), one per
    /// <see cref="MemoryAdmission.CompactionInterval"/>, background ones in between.
    /// </summary>
    [Fact]
    public void Full_OfFreeSpace_CompactsAtMostOncePerCompactionInterval()
    {
        var admission = new MemoryAdmission(50, _time, () => _heap);
        _heap = (90 * MiB, 60 * MiB, 100 * MiB);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal((1, 1), (admission.CollectionsRequested, admission.CompactionsRequested));

        _time.Advance(MemoryAdmission.CollectionInterval);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal((2, 1), (admission.CollectionsRequested, admission.CompactionsRequested));

        _time.Advance(MemoryAdmission.CompactionInterval - MemoryAdmission.CollectionInterval);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal((3, 2), (admission.CollectionsRequested, admission.CompactionsRequested));
    }

    /// <summary>
    /// Every client leaving at once and coming back: the first collection finds their streams still open, the next
    /// their garbage. With one collection per 10 s they were refused for 20 s; now the compaction follows seconds after.
    /// </summary>
    [Fact]
    public void Full_StreamsEndedAfterARefusal_CompactsWithinTwoCollectionIntervals()
    {
        var admission = new MemoryAdmission(50, _time, () => _heap);
        _heap = (90 * MiB, 5 * MiB, 100 * MiB);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal((1, 0), (admission.CollectionsRequested, admission.CompactionsRequested));

        // The streams end; the background collection asked for next finds their garbage.
        _time.Advance(MemoryAdmission.CollectionInterval);
        Assert.True(admission.Full(out _, out _));
        _heap = (90 * MiB, 80 * MiB, 100 * MiB);
        _time.Advance(MemoryAdmission.CollectionInterval);
        Assert.True(admission.Full(out _, out _));
        Assert.Equal((3, 1), (admission.CollectionsRequested, admission.CompactionsRequested));

        _heap = (10 * MiB, 0, 100 * MiB);
        Assert.False(admission.Full(out _, out _));
    }
}
