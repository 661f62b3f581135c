using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Eventsourced.Sockets;

/// <summary>
/// Counts the bytes Kestrel writes to each connection's transport and offers the count as
/// <see cref="ITransportBytesFeature"/>: a stream compares the count after its flush with what the
/// client's TCP has acknowledged. It must wrap the raw transport, so it is the first connection middleware.
/// </summary>
internal static class TransportByteCounter
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware() => next => context =>
    {
        var counted = new CountedTransport(context.Transport);
        context.Transport = counted;
        context.Features.Set<ITransportBytesFeature>(counted);
        return next(context);
    };

    private sealed class CountedTransport(IDuplexPipe transport) : IDuplexPipe, ITransportBytesFeature
    {
        private readonly CountingWriter _output = new(transport.Output);

        public PipeReader Input => transport.Input;

        public PipeWriter Output => _output;

        public long BytesWritten => _output.Written;
    }

    /// <summary>Passes everything through, counting what is advanced (Kestrel writes from one thread at a time).</summary>
    private sealed class CountingWriter(PipeWriter inner) : PipeWriter
    {
        private long _written;

        public long Written => Volatile.Read(ref _written);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes)
        {
            inner.Advance(bytes);
            Volatile.Write(ref _written, _written + bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
