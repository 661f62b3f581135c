namespace Eventsourced.Sockets;

/// <summary>
/// A duplex, unseekable <see cref="Stream"/> over another that it owns: the members every such wrapper spells the same
/// way (what it can do, no length or position, flushes, synchronous reads and writes passed through, disposing the
/// inner stream). Subclasses override the reads and writes they watch; the span overloads stay <see cref="Stream"/>'s,
/// which go through the array overloads, so that a subclass sees every read and write it overrides.
/// </summary>
internal abstract class PassThroughStream(Stream inner) : Stream
{
    /// <summary>The stream every call goes to.</summary>
    protected Stream Inner { get; } = inner;

    public override bool CanRead => Inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => Inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush() => Inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => Inner.Read(buffer, offset, count);

    public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
