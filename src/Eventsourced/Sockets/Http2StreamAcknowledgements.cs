using System.IO.Pipelines;
using System.Net.Sockets;
using Eventsourced.Acknowledging;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.Sockets;

/// <summary>
/// The client's TCP acknowledgements for one HTTP/2 stream, in bytes of the stream's response body: what the stream
/// writes is counted here (<see cref="CountWrites"/>, and the WebSocket's stream of an extended CONNECT), where those
/// bytes went out on the connection is followed by <see cref="Http2FrameCounter"/>, and the connection's
/// acknowledged count says which of them the client's TCP has.
/// <para>
/// Closing an EventSource over HTTP/2 resets its stream, not the connection: bytes that reach the client after it
/// sent the reset are acknowledged by its TCP and thrown away. A reset sent before those acknowledgements is in the
/// connection's bytes before them, but Kestrel reads it later than the acknowledgement count can be read. So a body
/// position counts as acknowledged only once the gateway has read every byte the client had sent when the count showed
/// it, and the stream then stayed open <see cref="Grace"/> (<see cref="ResetGrace"/>); what the stream's abort finds not
/// yet confirmed goes back to the queue (it may arrive twice). A reset the client sent after its TCP acknowledged the
/// bytes (one still in its own send buffer) cannot be told from a later close.
/// </para>
/// </summary>
internal sealed class Http2StreamAcknowledgements : TcpAcknowledgements
{
    /// <summary>How long after the gateway read what the client had sent by its acknowledgement a reset of the stream still takes the bytes back.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(50);

    private readonly Http2StreamProgress _progress;
    private readonly ResetGrace _grace;
    private readonly CancellationTokenRegistration _aborted;
    private readonly WrittenBytes _written;
    private long _acknowledged;

    public Http2StreamAcknowledgements(Socket socket, ITransportBytesFeature connection, Http2StreamProgress progress, HttpContext context, TimeProvider time)
        : base(socket, connection)
    {
        _progress = progress;
        _grace = new ResetGrace(Grace, time);
        _aborted = context.RequestAborted.UnsafeRegister(static s => ((ResetGrace)s!).Abort(), _grace);
        // A WebSocket over HTTP/2 writes to the stream of Kestrel's extended CONNECT, counted on the way (CountingConnectFeature).
        _written = context.Features.Get<IHttpExtendedConnectFeature>() is CountingConnectFeature connect ? connect.Written : new WrittenBytes();
    }

    /// <summary>The stream's response body bytes written so far.</summary>
    public override long Written => _written.Count;

    public override PipeWriter CountWrites(PipeWriter writer) => new CountingWriter(writer, _written);

    /// <summary>The body bytes the client's TCP has acknowledged, taken as delivered once <see cref="ResetGrace"/> confirms them.</summary>
    public override long? Acknowledged()
    {
        // The bytes read by the server are taken before the kernel's counts: read later, they could include bytes
        // that arrived after the counts were taken and make a position look safe too early.
        var read = ConnectionRead;
        if (ConnectionAcknowledged(out var received) is { } connection)
        {
            _acknowledged = _progress.BodyBefore(connection, _acknowledged);
        }

        return _grace.Confirmed(_acknowledged, received, read);
    }

    public override void Dispose()
    {
        _aborted.Dispose();
        _progress.Dispose();
        base.Dispose();
    }

    /// <summary>Passes everything through, counting what is advanced.</summary>
    private sealed class CountingWriter(PipeWriter inner, WrittenBytes counter) : PassThroughPipeWriter(inner)
    {
        public override void Advance(int bytes)
        {
            Inner.Advance(bytes);
            counter.Add(bytes);
        }
    }
}
