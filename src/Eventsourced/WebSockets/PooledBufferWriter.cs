using System.Buffers;

namespace Eventsourced.WebSockets;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over arrays rented from <see cref="ArrayPool{T}.Shared"/>, whose
/// result is handed out as the rented array itself (<see cref="Detach"/>): a frame written here becomes an
/// <see cref="Consuming.OutboundItem"/> without another copy. The framework's <c>ArrayBufferWriter</c>
/// allocates its arrays, and an upper bound on a JSON string's escaped size (six bytes per byte) would rent
/// six times a message's size for every buffered message; this grows only when the estimate was short.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>
{
    private byte[] _buffer = [];
    private int _written;

    /// <summary>Starts a new result with room for <paramref name="sizeHint"/> bytes.</summary>
    public void Start(int sizeHint)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(256, sizeHint));
        _written = 0;
    }

    /// <summary>Hands out the array written so far (rented: the taker returns it) and forgets it.</summary>
    public byte[] Detach(out int length)
    {
        var buffer = _buffer;
        length = _written;
        _buffer = [];
        _written = 0;
        return buffer;
    }

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        var needed = _written + Math.Max(1, sizeHint);
        if (needed <= _buffer.Length)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = larger;
    }
}
