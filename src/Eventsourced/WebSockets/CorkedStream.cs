using System.Buffers;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.WebSockets;

/// <summary>
/// The upgraded connection under a server WebSocket, with its writes coalesced while corked (as <c>TCP_CORK</c> does
/// for a socket): the session corks it, sends a batch of messages, and uncorks it, so that the batch leaves in one
/// write and one flush, as an SSE stream's batch does. ASP.NET Core's WebSocket writes every frame straight through to
/// Kestrel, a flush each; at one frame per message that cost the gateway twice SSE's CPU per message in the drain
/// benchmark (docs/performance.md). Frames the WebSocket writes on its own (keepalive pings, pongs, the close) go
/// straight through while it is not corked and after the batch while it is. Writes are serialized here: the
/// WebSocket's keepalive timer may write while the session uncorks. Reads are checked as <see cref="CheckedReadStream"/>
/// checks them.
/// </summary>
internal sealed class CorkedStream(Stream inner) : CheckedReadStream(inner)
{
    /// <summary>A corked batch is written out early once it holds this much (the SSE writer's batch size).</summary>
    private const int MaxCorked = 64 * 1024;

    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly object _sync = new();
    private byte[] _buffer = [];
    private int _length;
    private bool _corked;

    /// <summary>Holds writes back until <see cref="UncorkAsync"/>.</summary>
    public void Cork()
    {
        lock (_sync)
        {
            _corked = true;
        }
    }

    /// <summary>Writes what was held back, in one write.</summary>
    public async ValueTask UncorkAsync(CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            _corked = false;
        }

        await WriteHeldAsync(cancellationToken);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_sync)
        {
            if (_corked && _length + buffer.Length <= MaxCorked)
            {
                if (_length + buffer.Length > _buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + buffer.Length, Math.Max(4096, _buffer.Length * 2)));
                    _buffer.AsSpan(0, _length).CopyTo(larger);
                    ReturnBuffer();
                    _buffer = larger;
                }

                buffer.Span.CopyTo(_buffer.AsSpan(_length));
                _length += buffer.Length;
                return ValueTask.CompletedTask;
            }
        }

        return WriteThroughAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_sync)
            {
                ReturnBuffer();
                _length = 0;
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>In order: what is held back first, then <paramref name="buffer"/>.</summary>
    private async ValueTask WriteThroughAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            await WriteHeldLockedAsync(cancellationToken);
            await Inner.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    private async ValueTask WriteHeldAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            await WriteHeldLockedAsync(cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    private async ValueTask WriteHeldLockedAsync(CancellationToken cancellationToken)
    {
        byte[] held;
        int length;
        lock (_sync)
        {
            if (_length == 0)
            {
                return;
            }

            held = _buffer;
            length = _length;
            _buffer = [];
            _length = 0;
        }

        try
        {
            await Inner.WriteAsync(held.AsMemory(0, length), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = [];
    }
}

/// <summary>
/// The request's upgrade, giving the WebSocket a <see cref="CorkedStream"/> over the upgraded connection. Set ahead of
/// ASP.NET Core's WebSocket middleware, which upgrades through this feature.
/// </summary>
internal sealed class CorkingUpgradeFeature(IHttpUpgradeFeature inner) : IHttpUpgradeFeature
{
    public bool IsUpgradableRequest => inner.IsUpgradableRequest;

    /// <summary>The upgraded connection, once upgraded.</summary>
    public CorkedStream? Stream { get; private set; }

    public async Task<Stream> UpgradeAsync()
    {
        Stream = new CorkedStream(await inner.UpgradeAsync());
        return Stream;
    }
}
