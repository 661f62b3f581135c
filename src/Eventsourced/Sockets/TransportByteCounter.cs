using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Eventsourced.Sockets;

/// <summary>
/// Counts the bytes Kestrel writes to each connection's transport and offers the count as
/// <see cref="ITransportBytesFeature"/>: a stream compares the count after its flush with what the
/// client's TCP has acknowledged. It must wrap the raw transport, so it is the first connection middleware.
/// It also turns the socket's <c>ETIMEDOUT</c>, with which the kernel drops a connection whose bytes stayed
/// unacknowledged for <c>TCP_USER_TIMEOUT</c> (<see cref="TcpUserTimeout"/>: a vanished client, or one that stopped
/// reading), into the end of a reset connection: Kestrel logs a reset at debug level, but took the timeout for a fault
/// of its own (a warning with a stack trace per connection, an error when a write met it), and any client can cause one
/// as often as it opens connections.
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

    /// <summary>The kernel dropped the connection for its <c>TCP_USER_TIMEOUT</c>.</summary>
    internal static bool DroppedByTheKernel(Exception exception) => exception is SocketException { SocketErrorCode: SocketError.TimedOut };

    private sealed class CountedTransport(IDuplexPipe transport) : IDuplexPipe, ITransportBytesFeature
    {
        private readonly CountingWriter _output = new(transport.Output);
        private readonly TimeoutAsResetReader _input = new(transport.Input);

        public PipeReader Input => _input;

        public PipeWriter Output => _output;

        public long BytesWritten => _output.Written;

        public long BytesRead => _input.Read;
    }

    /// <summary>Passes everything through, counting what is advanced (Kestrel writes from one thread at a time).</summary>
    private sealed class CountingWriter(PipeWriter inner) : PassThroughPipeWriter(inner)
    {
        private long _written;

        public long Written => Volatile.Read(ref _written);

        public override void Advance(int bytes)
        {
            Inner.Advance(bytes);
            Volatile.Write(ref _written, _written + bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<FlushResult> flush;
            try
            {
                flush = Inner.FlushAsync(cancellationToken);
            }
            catch (Exception ex) when (DroppedByTheKernel(ex))
            {
                return new(Gone);
            }

            return flush.IsCompletedSuccessfully ? flush : AwaitedAsync(flush);
        }

        /// <summary>What a flush answers once the socket's reader has completed without an error, as after a reset.</summary>
        private static FlushResult Gone => new(isCanceled: false, isCompleted: true);

        private static async ValueTask<FlushResult> AwaitedAsync(ValueTask<FlushResult> flush)
        {
            try
            {
                return await flush;
            }
            catch (Exception ex) when (DroppedByTheKernel(ex))
            {
                return Gone;
            }
        }
    }

    /// <summary>
    /// Passes everything through, counting what is consumed (Kestrel reads from one thread at a time); a read that meets
    /// the kernel's timeout fails as a reset connection's does.
    /// </summary>
    private sealed class TimeoutAsResetReader(PipeReader inner) : PipeReader
    {
        private ReadOnlySequence<byte> _buffer;
        private long _read;

        public long Read => Volatile.Read(ref _read);

        public override void AdvanceTo(SequencePosition consumed)
        {
            Consumed(consumed);
            inner.AdvanceTo(consumed);
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            Consumed(consumed);
            inner.AdvanceTo(consumed, examined);
        }

        private void Consumed(SequencePosition consumed)
        {
            if (!_buffer.IsEmpty)
            {
                Volatile.Write(ref _read, _read + _buffer.Slice(_buffer.Start, consumed).Length);
                _buffer = default;
            }
        }

        private ReadResult Seen(ReadResult result)
        {
            _buffer = result.Buffer;
            return result;
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ValueTask<ReadResult> read;
            try
            {
                read = inner.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (DroppedByTheKernel(ex))
            {
                throw new ConnectionResetException(ex.Message, ex);
            }

            return read.IsCompletedSuccessfully ? new(Seen(read.Result)) : AwaitedAsync(read);
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                if (inner.TryRead(out result))
                {
                    Seen(result);
                    return true;
                }

                return false;
            }
            catch (Exception ex) when (DroppedByTheKernel(ex))
            {
                throw new ConnectionResetException(ex.Message, ex);
            }
        }

        private async ValueTask<ReadResult> AwaitedAsync(ValueTask<ReadResult> read)
        {
            try
            {
                return Seen(await read);
            }
            catch (Exception ex) when (DroppedByTheKernel(ex))
            {
                throw new ConnectionResetException(ex.Message, ex);
            }
        }
    }
}
