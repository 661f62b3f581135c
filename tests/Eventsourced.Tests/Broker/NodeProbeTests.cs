using System.Net;
using System.Net.Sockets;
using Eventsourced.Broker;

namespace Eventsourced.Tests.Broker;

/// <summary>The probe against real sockets standing in for a node: refused, silent (a frozen node's kernel accepts), answering.</summary>
public sealed class NodeProbeTests
{
    [Fact]
    public async Task ClosedPort_DoesNotAnswer()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        Assert.False(await NodeProbe.AnswersAsync(BrokerUrl.Parse($"amqp://127.0.0.1:{port}/")));
    }

    [Fact]
    public async Task AcceptedButSilent_DoesNotAnswer_WithinTheProbeTimeout()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(); // the kernel completes handshakes into the backlog; nobody ever reads or writes
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();

        Assert.False(await NodeProbe.AnswersAsync(BrokerUrl.Parse($"amqp://127.0.0.1:{port}/")));
        Assert.InRange(stopwatch.Elapsed, NodeProbe.Timeout * 0.9, NodeProbe.Timeout * 5);
    }

    [Fact]
    public async Task ConnectionStartAfterTheProtocolHeader_Answers()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var node = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var header = new byte[8];
            await stream.ReadExactlyAsync(header);
            await stream.WriteAsync(new byte[] { 1, 0, 0 }); // frame type 1: a method frame (connection.start)
            return header;
        });

        Assert.True(await NodeProbe.AnswersAsync(BrokerUrl.Parse($"amqp://127.0.0.1:{port}/")));
        Assert.Equal("AMQP\0\0\u0009\u0001"u8.ToArray(), await node);
    }
}
