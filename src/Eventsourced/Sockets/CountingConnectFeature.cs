using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.Sockets;

/// <summary>Bytes a stream's writer has written, counted as it writes (read from another thread).</summary>
internal sealed class WrittenBytes
{
    private long _count;

    public long Count => Volatile.Read(ref _count);

    public void Add(long bytes) => Interlocked.Add(ref _count, bytes);
}

/// <summary>
/// An HTTP/2 extended CONNECT (a WebSocket over HTTP/2) whose accepted stream counts what is written to it, for
/// <see cref="Http2StreamAcknowledgements"/>, and checks what the client sends as an HTTP/1.1 upgrade's connection does
/// (<see cref="Eventsourced.WebSockets.CheckedReadStream"/>). Set ahead of ASP.NET Core's WebSocket middleware, which
/// takes the feature when the request comes in.
/// </summary>
internal sealed class CountingConnectFeature(IHttpExtendedConnectFeature inner) : IHttpExtendedConnectFeature
{
    public WrittenBytes Written { get; } = new();

    public bool IsExtendedConnect => inner.IsExtendedConnect;

    public string? Protocol => inner.Protocol;

    /// <summary>The accepted stream, once accepted.</summary>
    public Eventsourced.WebSockets.CheckedReadStream? Stream { get; private set; }

    public async ValueTask<Stream> AcceptAsync()
    {
        Stream = new Eventsourced.WebSockets.CheckedReadStream(new CountingStream(await inner.AcceptAsync(), Written));
        return Stream;
    }
}

/// <summary>The extended CONNECT's duplex stream, counting what is written to it.</summary>
internal sealed class CountingStream(Stream inner, WrittenBytes counter) : PassThroughStream(inner)
{
    public override int Read(Span<byte> buffer) => Inner.Read(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Inner.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count)
    {
        Inner.Write(buffer, offset, count);
        counter.Add(count);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Inner.Write(buffer);
        counter.Add(buffer.Length);
    }

    public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        // Counted before the write returns: the session reads the count after its send completes.
        counter.Add(count);
        await Inner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        counter.Add(buffer.Length);
        return Inner.WriteAsync(buffer, cancellationToken);
    }

    public override ValueTask DisposeAsync() => Inner.DisposeAsync();
}
