namespace Eventsourced.Streaming;

/// <summary>Why a stream ended; logged, and the label of nothing unbounded.</summary>
internal enum StreamEndReason
{
    ClientGone,
    Shutdown,
    ConsumerCancelled,
    ChannelClosed,
    WriteTimeout,
    WriteFailed,
    BufferOverflow,
}
