using Eventsourced.Streaming;

namespace Eventsourced.Tests.Streaming;

public sealed class AckGateTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Now { get; set; } = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Now;

        public void Advance(TimeSpan by) => Now += by.Ticks;
    }

    [Fact]
    public void WithoutASendQueue_AFlushIsDelivery()
    {
        var gate = new AckGate(null, new ManualTime());
        gate.Flushed(3);
        gate.Flushed(7);

        Assert.Equal(7ul, gate.TakeAcknowledgeable());
        Assert.False(gate.HasPending);
        Assert.Equal(0ul, gate.TakeAcknowledgeable());
    }

    [Fact]
    public void BytesUnacknowledgedByThePeer_HoldTheAck_AndBackOff()
    {
        var time = new ManualTime();
        int? unacknowledged = 120;
        var gate = new AckGate(() => unacknowledged, time);
        gate.Flushed(5);
        time.Advance(TimeSpan.FromMilliseconds(10));

        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.True(gate.HasPending);
        Assert.Equal(TimeSpan.FromMilliseconds(4), gate.NextCheck);

        unacknowledged = 0;
        Assert.Equal(5ul, gate.TakeAcknowledgeable());
        Assert.False(gate.HasPending);
        Assert.Equal(AckGate.Settle, gate.NextCheck);
    }

    [Fact]
    public void EmptySendQueue_RightAfterTheFlush_DoesNotCountYet()
    {
        // The transport may not have handed the flushed bytes to the kernel yet.
        var time = new ManualTime();
        var gate = new AckGate(() => 0, time);
        gate.Flushed(1);
        time.Advance(TimeSpan.FromMilliseconds(5));
        gate.Flushed(2);

        Assert.Equal(1ul, gate.TakeAcknowledgeable());
        Assert.True(gate.HasPending);
        time.Advance(AckGate.Settle);
        Assert.Equal(2ul, gate.TakeAcknowledgeable());
    }

    [Fact]
    public void UnreadableSendQueue_AcknowledgesNothing()
    {
        var time = new ManualTime();
        var gate = new AckGate(() => null, time);
        gate.Flushed(9);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.True(gate.HasPending);
    }

    [Fact]
    public void CheckDelay_IsCapped()
    {
        var gate = new AckGate(() => 1, new ManualTime());
        gate.Flushed(1);
        for (var i = 0; i < 20; i++)
        {
            gate.TakeAcknowledgeable();
        }

        Assert.Equal(AckGate.MaxCheckDelay, gate.NextCheck);
    }
}
