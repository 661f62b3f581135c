using System.Threading.Channels;
using Eventsourced.Consuming;

namespace Eventsourced.Tests.Consuming;

public sealed class ControlSignalsTests
{
    private static readonly OutboundItem Heartbeat = OutboundItem.HeartbeatOf(": heartbeat\n\n"u8.ToArray());

    [Fact]
    public void EachKind_WaitsAtMostOnce_UntilTheWriterTookIt()
    {
        var buffer = Channel.CreateBounded<OutboundItem>(10);
        var signals = default(ControlSignals);

        signals.QueueHeartbeat(buffer.Writer, Heartbeat);
        signals.QueueHeartbeat(buffer.Writer, Heartbeat);
        signals.QueueWakeup(buffer.Writer);
        signals.QueueWakeup(buffer.Writer);
        Assert.Equal(2, buffer.Reader.Count);

        Assert.True(buffer.Reader.TryRead(out var first));
        Assert.Equal(OutboundKind.Heartbeat, first.Kind);
        signals.QueueHeartbeat(buffer.Writer, Heartbeat);
        Assert.Equal(1, buffer.Reader.Count); // not taken yet: still counts as waiting
        signals.Taken(first);
        signals.QueueHeartbeat(buffer.Writer, Heartbeat);
        Assert.Equal(2, buffer.Reader.Count);
        Assert.True(buffer.Reader.TryRead(out var second));
        Assert.Equal(OutboundKind.Wakeup, second.Kind);
    }

    [Fact]
    public void AFullBuffer_LeavesTheKindFreeToBeQueuedLater()
    {
        var buffer = Channel.CreateBounded<OutboundItem>(1);
        var signals = default(ControlSignals);
        Assert.True(buffer.Writer.TryWrite(OutboundItem.Wakeup));

        signals.QueueHeartbeat(buffer.Writer, Heartbeat); // no room: dropped, and not marked as waiting
        Assert.True(buffer.Reader.TryRead(out _));
        signals.QueueHeartbeat(buffer.Writer, Heartbeat);

        Assert.True(buffer.Reader.TryRead(out var item));
        Assert.Equal(OutboundKind.Heartbeat, item.Kind);
    }
}
