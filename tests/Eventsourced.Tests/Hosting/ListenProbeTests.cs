using System.Net;
using System.Net.Sockets;
using Eventsourced.Hosting;
using Eventsourced.Testing;

namespace Eventsourced.Tests.Hosting;

public sealed class ListenProbeTests
{
    [Theory]
    [InlineData("127.0.0.1:{0}")]
    [InlineData("localhost:{0}")]
    [InlineData(":{0}")]
    public async Task Take_NeverListens_AConnectionToTheProbedPortIsRefused(string text)
    {
        // A probe that listened took connections nobody answered: a load tool (or a supervisor) that waits for the port
        // to open went on while the gateway was still starting, and had its first connections reset (bench-smoke's storm).
        var port = FreePort.Next();
        var probe = new ListenProbe();

        probe.Take("server.address", Format(text, port));

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public void Take_AnAddressAnotherSocketListensOn_IsInUse()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var failed = Assert.Throws<IOException>(() => new ListenProbe().Take("server.address", $"127.0.0.1:{port}"));

        Assert.StartsWith($"server.address 127.0.0.1:{port}: address already in use", failed.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(":{0}", "127.0.0.1:{0}")]
    [InlineData("localhost:{0}", "[::1]:{0}")]
    [InlineData("127.0.0.1:{0}", "[::]:{0}")]
    [InlineData("[::]:{0}", "0.0.0.0:{0}")]
    [InlineData("0.0.0.0:{0}", "127.0.0.1:{0}")]
    public void Take_TheSamePortOfTheSameAddressTwice_IsAnOverlapNamingTheFirst(string server, string metrics)
    {
        var port = FreePort.Next();
        var probe = new ListenProbe();
        probe.Take("server.address", Format(server, port));

        var failed = Assert.Throws<IOException>(() => probe.Take("metrics.address", Format(metrics, port)));

        Assert.Equal(
            $"metrics.address {Format(metrics, port)}: overlaps server.address {Format(server, port)} (both would listen on port {port} of the same address); give it another port",
            failed.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:{0}", "[::1]:{0}")]
    [InlineData("0.0.0.0:{0}", "[::1]:{0}")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    public void Take_DifferentAddressesOrPortZero_AreNoOverlap(string server, string metrics)
    {
        var port = FreePort.Next();
        var probe = new ListenProbe();
        probe.Take("server.address", Format(server, port));

        probe.Take("metrics.address", Format(metrics, port));
    }

    private static string Format(string text, int port) => string.Format(System.Globalization.CultureInfo.InvariantCulture, text, port);
}
