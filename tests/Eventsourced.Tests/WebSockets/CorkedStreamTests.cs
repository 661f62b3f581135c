using Eventsourced.WebSockets;

namespace Eventsourced.Tests.WebSockets;

public sealed class CorkedStreamTests
{
    [Fact]
    public async Task Uncorked_WritesGoStraightThrough_EachOnItsOwn()
    {
        var inner = new RecordingStream();
        await using var corked = new CorkedStream(inner);

        await corked.WriteAsync("ab"u8.ToArray());
        await corked.WriteAsync("cd"u8.ToArray());

        Assert.Equal(["ab", "cd"], inner.Writes);
    }

    [Fact]
    public async Task Corked_WritesAreHeld_AndLeaveInOrderAsOneWriteWhenUncorked()
    {
        var inner = new RecordingStream();
        await using var corked = new CorkedStream(inner);

        corked.Cork();
        await corked.WriteAsync("one "u8.ToArray());
        await corked.WriteAsync("two "u8.ToArray());
        Assert.Empty(inner.Writes);
        await corked.UncorkAsync();
        await corked.WriteAsync("three"u8.ToArray());

        Assert.Equal(["one two ", "three"], inner.Writes);
    }

    [Fact]
    public async Task Corked_PastTheBatchSize_WritesWhatIsHeldAndKeepsOrder()
    {
        var inner = new RecordingStream();
        await using var corked = new CorkedStream(inner);
        var large = new string('x', 64 * 1024);

        corked.Cork();
        await corked.WriteAsync("small"u8.ToArray());
        await corked.WriteAsync(System.Text.Encoding.ASCII.GetBytes(large));
        await corked.UncorkAsync();

        Assert.Equal(["small", large], inner.Writes);
    }

    [Fact]
    public async Task UncorkWithNothingHeld_WritesNothing()
    {
        var inner = new RecordingStream();
        await using var corked = new CorkedStream(inner);

        corked.Cork();
        await corked.UncorkAsync();

        Assert.Empty(inner.Writes);
    }

    private sealed class RecordingStream : Stream
    {
        public List<string> Writes { get; } = [];

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get; set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(System.Text.Encoding.ASCII.GetString(buffer.Span));
            return ValueTask.CompletedTask;
        }

        public override void Write(byte[] buffer, int offset, int count) => Writes.Add(System.Text.Encoding.ASCII.GetString(buffer, offset, count));

        public override int Read(byte[] buffer, int offset, int count) => 0;

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => 0;

        public override void SetLength(long value)
        {
        }
    }
}
