using System.Net.Sockets;
using System.Net;
using Eventsourced.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Sockets;

/// <summary>Real TCP connections on loopback: the kernel's acknowledgement count, not a model of it.</summary>
public sealed class TcpAcknowledgementsTests
{
    [Fact]
    public async Task CountsWhatThePeerAcknowledged()
    {
        using var pair = await SocketPair.CreateAsync();
        var written = new Written();
        var acknowledgements = TcpAcknowledgements.For(Context(pair.Server, written));

        Assert.NotNull(acknowledgements);
        var before = acknowledgements.Acknowledged();
        Assert.NotNull(before);

        var payload = new byte[10_000];
        await pair.Server.SendAsync(payload);
        written.BytesWritten += payload.Length;
        var received = 0;
        var buffer = new byte[4096];
        while (received < payload.Length)
        {
            received += await pair.Client.ReceiveAsync(buffer);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (acknowledgements.Acknowledged() < before + payload.Length && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        Assert.Equal(before + payload.Length, acknowledgements.Acknowledged());
        Assert.Equal(payload.Length, acknowledgements.Written);
    }

    [Fact]
    public async Task ClosedSocket_AcknowledgesNothing_RatherThanEverything()
    {
        using var pair = await SocketPair.CreateAsync();
        var context = Context(pair.Server, new Written());
        pair.Server.Dispose();

        var acknowledgements = TcpAcknowledgements.For(context);

        Assert.NotNull(acknowledgements); // null would mean "a flush is delivery"
        Assert.Null(acknowledgements.Acknowledged());
    }

    [Fact]
    public async Task WithoutTheByteCount_ThereIsNothingToCompareWith()
    {
        using var pair = await SocketPair.CreateAsync();
        var context = Context(pair.Server, null);

        Assert.Null(TcpAcknowledgements.For(context));
    }

    private static DefaultHttpContext Context(Socket socket, ITransportBytesFeature? written)
    {
        var context = new DefaultHttpContext();
        context.Request.Protocol = "HTTP/1.1";
        context.Features.Set<IConnectionSocketFeature>(new SocketFeature(socket));
        if (written is not null)
        {
            context.Features.Set(written);
        }

        return context;
    }

    private sealed class Written : ITransportBytesFeature
    {
        public long BytesWritten { get; set; }
    }

    private sealed class SocketFeature(Socket socket) : IConnectionSocketFeature
    {
        public Socket Socket => socket;
    }
}
