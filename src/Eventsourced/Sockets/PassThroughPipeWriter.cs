using System.IO.Pipelines;

namespace Eventsourced.Sockets;

/// <summary>
/// A <see cref="PipeWriter"/> that hands every call to the writer it wraps; the gateway's writers that watch what passes
/// (<see cref="TransportByteCounter"/>, <see cref="Http2FrameCounter"/>, <see cref="Http2StreamAcknowledgements"/>)
/// override only what they watch. Written here because System.IO.Pipelines has no delegating writer to derive from.
/// </summary>
internal abstract class PassThroughPipeWriter(PipeWriter inner) : PipeWriter
{
    /// <summary>The writer every call goes to.</summary>
    protected PipeWriter Inner { get; } = inner;

    public override bool CanGetUnflushedBytes => Inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => Inner.UnflushedBytes;

    public override void Advance(int bytes) => Inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => Inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => Inner.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => Inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => Inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);
}
