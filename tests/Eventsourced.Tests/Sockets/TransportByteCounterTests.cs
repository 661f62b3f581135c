using System.IO.Pipelines;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Eventsourced.Tests.Sockets;

public sealed class TransportByteCounterTests
{
    [Fact]
    public async Task CountsEveryByteTheServerWrites_WhateverWayItWritesThem()
    {
        var toPeer = new Pipe();
        var fromPeer = new Pipe();
        var connection = new DefaultConnectionContext("c1", new DuplexPipe(fromPeer.Reader, toPeer.Writer), new DuplexPipe(toPeer.Reader, fromPeer.Writer));
        long? afterFirstFlush = null;

        await TransportByteCounter.Middleware()(async context =>
        {
            var output = context.Transport.Output;
            "HTTP/1.1 200 OK\r\n\r\n"u8.CopyTo(output.GetSpan(64));
            output.Advance(19);
            await output.FlushAsync();
            afterFirstFlush = context.Features.Get<ITransportBytesFeature>()!.BytesWritten;

            await output.WriteAsync(new byte[5000]); // more than one buffer
            var memory = output.GetMemory(10);
            memory.Span[..3].Fill(1);
            output.Advance(3);
            await output.FlushAsync();
            await output.CompleteAsync();
        })(connection);

        long received = 0;
        while (true)
        {
            var read = await toPeer.Reader.ReadAsync();
            received += read.Buffer.Length;
            toPeer.Reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }

        Assert.Equal(19, afterFirstFlush);
        Assert.Equal(19 + 5000 + 3, received);
        Assert.Equal(received, connection.Features.Get<ITransportBytesFeature>()!.BytesWritten);
    }

    [Fact]
    public async Task CountsWhatTheServerConsumesOfThePeersBytes_NotWhatItOnlyExamined()
    {
        var toPeer = new Pipe();
        var fromPeer = new Pipe();
        var connection = new DefaultConnectionContext("c2", new DuplexPipe(fromPeer.Reader, toPeer.Writer), new DuplexPipe(toPeer.Reader, fromPeer.Writer));
        await fromPeer.Writer.WriteAsync(new byte[1000]);
        var counts = new List<long>();

        await TransportByteCounter.Middleware()(async context =>
        {
            var input = context.Transport.Input;
            var feature = context.Features.Get<ITransportBytesFeature>()!;
            var read = await input.ReadAsync();
            input.AdvanceTo(read.Buffer.GetPosition(300), read.Buffer.End); // 300 consumed, all examined
            counts.Add(feature.BytesRead);
            await fromPeer.Writer.WriteAsync(new byte[500]);
            Assert.True(input.TryRead(out read));
            input.AdvanceTo(read.Buffer.End);
            counts.Add(feature.BytesRead);
        })(connection);

        Assert.Equal([300, 1500], counts);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
