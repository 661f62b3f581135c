using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Eventsourced.Sockets;

/// <summary>
/// On an HTTP/2 connection, follows how far each stream's response body has actually gone out to the transport.
/// Kestrel's flush of an HTTP/2 stream only hands the bytes to the stream's own buffer: its frame writer sends them
/// later, as the client's flow-control window allows, interleaved with the other streams'. Neither the stream's
/// flush nor the connection's byte count says where a message's bytes are, so this reads the frame headers Kestrel
/// writes (in plain text, so it sits after TLS) and counts each followed stream's DATA payload; when a flush of the
/// connection completes, the payload it carried is known to end before the transport's byte count of that moment
/// (<see cref="ITransportBytesFeature"/>, counted outside TLS), the number the client's TCP acknowledgements are
/// compared with. Written by hand: Kestrel exposes no per-stream output position, and nothing else sees the frames.
/// Only on connections that negotiated <c>h2</c>; HTTP/1.x connections are not wrapped.
/// </summary>
internal static class Http2FrameCounter
{
    private const int FrameHeaderLength = 9;
    private const byte DataFrame = 0x0;

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware() => next => context =>
    {
        if (context.Features.Get<ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true
            && context.Features.Get<ITransportBytesFeature>() is { } transport)
        {
            var frames = new FramesWriter(context.Transport.Output, transport);
            context.Transport = new Transport(context.Transport.Input, frames);
            context.Features.Set<IHttp2StreamsFeature>(frames);
        }

        return next(context);
    };

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }

    /// <summary>
    /// Passes every byte through, reading the frame headers on the way. Kestrel's frame writer writes and flushes
    /// from one thread at a time, one flush at a time; the streams' readers ask from others (<see cref="Http2StreamProgress"/> locks).
    /// </summary>
    internal sealed class FramesWriter(PipeWriter inner, ITransportBytesFeature transport) : PassThroughPipeWriter(inner), IHttp2StreamsFeature
    {
        private readonly Dictionary<int, Http2StreamProgress> _followed = [];
        private readonly byte[] _header = new byte[FrameHeaderLength];
        private readonly Lock _flushLock = new();
        private int _flushesPending;
        private List<Http2StreamProgress> _advanced = [];
        private List<Http2StreamProgress> _flushing = [];
        private Memory<byte> _buffer;
        private int _headerLength;
        private long _payloadLeft;
        private Http2StreamProgress? _payloadOf;

        public Http2StreamProgress Follow(int streamId)
        {
            var progress = new Http2StreamProgress(this, streamId);
            lock (_followed)
            {
                _followed[streamId] = progress;
            }

            return progress;
        }

        public void Forget(Http2StreamProgress progress)
        {
            lock (_followed)
            {
                if (_followed.TryGetValue(progress.StreamId, out var current) && ReferenceEquals(current, progress))
                {
                    _followed.Remove(progress.StreamId);
                }
            }
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer = Inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => (_buffer = Inner.GetMemory(sizeHint)).Span;

        public override void Advance(int bytes)
        {
            Read(_buffer.Span[..bytes]);
            _buffer = default;
            Inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            lock (_flushLock)
            {
                // What was framed before this flush goes out with it; frames written while it waits go with the next one.
                // Kestrel flushes a connection one flush at a time; were one ever started while another waited, its
                // streams would be told of a later flush instead: later than their bytes went, never earlier.
                if (_flushesPending++ == 0)
                {
                    (_advanced, _flushing) = (_flushing, _advanced);
                    foreach (var stream in _flushing)
                    {
                        stream.FlushStarting();
                    }
                }
            }

            var flush = Inner.FlushAsync(cancellationToken);
            if (flush.IsCompletedSuccessfully)
            {
                Flushed();
                return flush;
            }

            return AwaitedAsync(flush);
        }

        private async ValueTask<FlushResult> AwaitedAsync(ValueTask<FlushResult> flush)
        {
            var result = await flush;
            Flushed();
            return result;
        }

        /// <summary>
        /// The flush has passed its bytes through TLS to the transport (Kestrel's TLS writer is a stream writer that
        /// encrypts and writes on flush), so they end before the transport's count now.
        /// </summary>
        private void Flushed()
        {
            lock (_flushLock)
            {
                if (--_flushesPending > 0)
                {
                    return;
                }

                var position = transport.BytesWritten;
                foreach (var stream in _flushing)
                {
                    stream.FlushCompleted(position);
                }

                _flushing.Clear();
            }
        }

        /// <summary>Reads frame headers across writes; counts the payload of followed streams' DATA frames.</summary>
        private void Read(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                if (_payloadLeft > 0)
                {
                    var payload = (int)Math.Min(_payloadLeft, bytes.Length);
                    _payloadLeft -= payload;
                    bytes = bytes[payload..];
                    if (_payloadOf is { } stream && stream.Framed(payload))
                    {
                        _advanced.Add(stream);
                    }

                    continue;
                }

                var header = Math.Min(FrameHeaderLength - _headerLength, bytes.Length);
                bytes[..header].CopyTo(_header.AsSpan(_headerLength));
                _headerLength += header;
                bytes = bytes[header..];
                if (_headerLength < FrameHeaderLength)
                {
                    return;
                }

                _headerLength = 0;
                _payloadLeft = (_header[0] << 16) | (_header[1] << 8) | _header[2];
                _payloadOf = _header[3] == DataFrame ? Followed(StreamIdOf(_header)) : null;
            }
        }

        private static int StreamIdOf(ReadOnlySpan<byte> header) =>
            ((header[5] & 0x7f) << 24) | (header[6] << 16) | (header[7] << 8) | header[8];

        private Http2StreamProgress? Followed(int streamId)
        {
            lock (_followed)
            {
                return _followed.GetValueOrDefault(streamId);
            }
        }
    }
}

/// <summary>A connection feature of HTTP/2 connections: follows a stream's response body out to the transport (<see cref="Http2FrameCounter"/>).</summary>
internal interface IHttp2StreamsFeature
{
    Http2StreamProgress Follow(int streamId);

    void Forget(Http2StreamProgress progress);
}

/// <summary>
/// How far one HTTP/2 stream's response body has gone out: a list of checkpoints, each the body bytes a connection
/// flush had carried and the transport position they end before. Kestrel does not pad DATA frames, so their payload
/// is the body's bytes.
/// </summary>
internal sealed class Http2StreamProgress : IDisposable
{
    /// <summary>Checkpoints kept at most: flushes of the stream not yet known to be acknowledged.</summary>
    internal const int MaxCheckpoints = 64;

    private readonly IHttp2StreamsFeature _streams;
    private readonly Queue<(long Body, long Position)> _checkpoints = new(4);
    private long _framed;
    private long _flushing;
    private bool _advanced;

    internal Http2StreamProgress(IHttp2StreamsFeature streams, int streamId)
    {
        _streams = streams;
        StreamId = streamId;
    }

    public int StreamId { get; }

    /// <summary>The frame writer's thread: payload bytes framed; true when the stream has to be told of the next flush.</summary>
    internal bool Framed(int bytes)
    {
        _framed += bytes;
        if (_advanced)
        {
            return false;
        }

        _advanced = true;
        return true;
    }

    internal void FlushStarting()
    {
        _advanced = false;
        _flushing = _framed;
    }

    internal void FlushCompleted(long position)
    {
        lock (_checkpoints)
        {
            // Bounded for a stream whose checkpoints nobody asks about (a topic's live events are not acknowledged, its
            // heartbeats are still flushed): dropping the oldest only makes an answer later, never earlier.
            if (_checkpoints.Count == MaxCheckpoints)
            {
                _checkpoints.Dequeue();
            }

            _checkpoints.Enqueue((_flushing, position));
        }
    }

    /// <summary>
    /// The body bytes that went out before <paramref name="acknowledgedPosition"/> of the transport: those whose
    /// flush ended at or before it. Checkpoints it passes are dropped, so it is asked with growing positions.
    /// </summary>
    public long BodyBefore(long acknowledgedPosition, long previous)
    {
        var body = previous;
        lock (_checkpoints)
        {
            while (_checkpoints.TryPeek(out var checkpoint) && checkpoint.Position <= acknowledgedPosition)
            {
                body = Math.Max(body, checkpoint.Body);
                _checkpoints.Dequeue();
            }
        }

        return body;
    }

    public void Dispose() => _streams.Forget(this);
}
