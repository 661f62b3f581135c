using Eventsourced.Acknowledging;

namespace Eventsourced.Tests.Acknowledging;

public sealed class AckGateTests
{
    [Fact]
    public void WithoutTcpAcknowledgements_AFlushIsDelivery()
    {
        var gate = new AckGate(null);
        gate.Flushed(3, 0, 1);
        gate.Flushed(7, 0, 1);

        Assert.Equal(7ul, gate.TakeAcknowledgeable());
        Assert.False(gate.HasPending);
        Assert.Equal(0ul, gate.TakeAcknowledgeable());
    }

    [Fact]
    public void EachFlush_IsAcknowledged_OnceThePeerHasAcknowledgedEveryByteUpToItsEnd()
    {
        long? acknowledged = 0;
        var gate = new AckGate(() => acknowledged);
        gate.Flushed(5, 1_000, 1);
        gate.Flushed(9, 2_000, 1);
        gate.Flushed(12, 3_000, 1);

        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        acknowledged = 1_999; // the first flush's bytes, not all of the second's
        Assert.Equal(5ul, gate.TakeAcknowledgeable());
        Assert.True(gate.HasPending);
        acknowledged = 3_000;
        Assert.Equal(12ul, gate.TakeAcknowledgeable());
        Assert.False(gate.HasPending);
    }

    [Fact]
    public void PendingMessages_CountTheMessagesOfFlushesThePeerHasNotAcknowledged()
    {
        // What is pending when the stream ends goes back to the queue after being counted delivered: the caller counts it
        // requeued (tcp_unacknowledged) by this number.
        long? acknowledged = 0;
        var gate = new AckGate(() => acknowledged);
        gate.Flushed(5, 1_000, 5);
        gate.Flushed(9, 2_000, 4);
        gate.Flushed(12, 3_000, 3);
        Assert.Equal(12, gate.PendingMessages);

        acknowledged = 2_000;
        Assert.Equal(9ul, gate.TakeAcknowledgeable(out var taken));
        Assert.Equal(9, taken);
        Assert.Equal(3, gate.PendingMessages);
        Assert.Equal(0ul, gate.TakeAcknowledgeable(out taken));
        Assert.Equal(0, taken);
        Assert.Equal(3, gate.PendingMessages);

        acknowledged = 3_000;
        Assert.Equal(12ul, gate.TakeAcknowledgeable());
        Assert.Equal(0, gate.PendingMessages);
    }

    [Fact]
    public void NewerBytesInFlight_DoNotHoldBackOlderOnes()
    {
        // A stream that keeps writing never has an empty send queue; what arrived is acknowledged anyway.
        long? acknowledged = 0;
        var gate = new AckGate(() => acknowledged);
        ulong taken = 0;
        for (ulong tag = 1; tag <= 100; tag++)
        {
            gate.Flushed(tag, (long)tag * 100, 1);
            acknowledged = ((long)tag - 1) * 100;
            taken = Math.Max(taken, gate.TakeAcknowledgeable());
        }

        Assert.Equal(99ul, taken);
        Assert.True(gate.HasPending);
    }

    [Fact]
    public void ConnectionThatCannotTell_AcknowledgesNothing()
    {
        var gate = new AckGate(() => null);
        gate.Flushed(9, 10, 1);

        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.True(gate.HasPending);
    }

    [Fact]
    public void CheckDelay_DoublesWhileThePeerLags_AndStartsOverWhenItCatchesUp()
    {
        long? acknowledged = 0;
        var gate = new AckGate(() => acknowledged);
        gate.Flushed(1, 100, 1);
        Assert.Equal(0ul, gate.TakeAcknowledgeable()); // right after the flush: no sign of lag yet
        Assert.Equal(AckGate.FirstCheck, gate.NextCheck);

        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.Equal(AckGate.FirstCheck * 4, gate.NextCheck);

        gate.Flushed(2, 200, 1); // a new flush is not a sign of lag either
        Assert.Equal(0ul, gate.TakeAcknowledgeable());
        Assert.Equal(AckGate.FirstCheck * 4, gate.NextCheck);

        acknowledged = 100;
        Assert.Equal(1ul, gate.TakeAcknowledgeable());
        Assert.Equal(AckGate.FirstCheck, gate.NextCheck);
    }

    [Fact]
    public void CheckDelay_IsCapped()
    {
        var gate = new AckGate(() => 1);
        gate.Flushed(1, 2, 1);
        for (var i = 0; i < 20; i++)
        {
            gate.TakeAcknowledgeable();
        }

        Assert.Equal(AckGate.MaxCheckDelay, gate.NextCheck);
    }
}
