using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>limits.connections_per_client</c>: one address could hold every place of <c>limits.max_connections</c> with
/// kept-alive connections that each send a cheap request just inside <c>limits.request_headers_timeout</c>, and every
/// other client was closed at the cap. Loopback has many addresses (127.0.0.0/8), so two clients here are two source
/// addresses on it.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ConnectionsPerClientTests(BrokerFixture broker)
{
    private static readonly IPAddress Greedy = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.5");

    [Fact]
    public async Task OneAddressAtItsShare_IsClosedAsItComes_OtherAddressesAreServed_APlaceGivenBackIsTakenAgain()
    {
        const int Share = 3;
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.ConnectionsPerClient = Share;
            o.Limits.MaxConnections = 100;
            o.Limits.TrustedProxies = []; // loopback is a client here, not a proxy
        }, log);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < Share; i++)
            {
                held.Add(await KeptAliveAsync(Greedy, gateway.Port));
            }

            // Past its share the address's next connections are closed unread, however many it opens.
            for (var i = 0; i < 5; i++)
            {
                Assert.Null(await ProbeAsync(Greedy, gateway.Port));
            }

            // Another address is served, and the greedy one's kept-alive connections still are.
            Assert.StartsWith("HTTP/1.1 200", await ProbeAsync(Other, gateway.Port), StringComparison.Ordinal);
            foreach (var socket in held)
            {
                Assert.StartsWith("HTTP/1.1 200", await RequestAsync(socket), StringComparison.Ordinal);
            }

            Assert.Equal(5, await gateway.MetricAsync("eventsourced_connections_rejected_per_client_total"));
            Assert.Equal(0, await gateway.MetricAsync("eventsourced_connections_rejected_total{listener=\"server\"}"));
            var rejected = Assert.Single(log.Entries, e => e.EventId == 111);
            Assert.Contains("3 of one client address are open, the most limits.connections_per_client allows", rejected.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.2", string.Join('\n', log.Entries.Select(e => e.Message)), StringComparison.Ordinal);
            Assert.Contains("client connections at once (open-file limit ", Assert.Single(log.Entries, e => e.EventId == 107).Message, StringComparison.Ordinal);
            Assert.Contains("), 3 (limits.connections_per_client) of them from one client address;", log.Entries.Single(e => e.EventId == 107).Message, StringComparison.Ordinal);

            // A connection closed gives its place back.
            held[0].Dispose();
            held.RemoveAt(0);
            await Wait.UntilAsync(
                async () => (await ProbeAsync(Greedy, gateway.Port))?.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(5),
                "the address served again once one of its connections closed");
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// A proxy of <c>limits.trusted_proxies</c> carries many clients' connections: its own are not counted (its
    /// clients count per request, by the address it forwards, in <c>limits.streams_per_client</c>).
    /// </summary>
    [Theory]
    [InlineData("127.0.0.2")]
    [InlineData("127.0.0.0/30")]
    public async Task ATrustedProxy_IsNotHeldToTheShare(string trusted)
    {
        const int Share = 2;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.ConnectionsPerClient = Share;
            o.Limits.TrustedProxies = [trusted];
        });
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < Share * 3; i++)
            {
                held.Add(await KeptAliveAsync(Greedy, gateway.Port));
            }

            // An address outside the trusted entries is held to it.
            held.Add(await KeptAliveAsync(Other, gateway.Port));
            held.Add(await KeptAliveAsync(Other, gateway.Port));
            Assert.Null(await ProbeAsync(Other, gateway.Port));
            Assert.Equal(1, await gateway.MetricAsync("eventsourced_connections_rejected_per_client_total"));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    /// <summary>Without the setting (the default) one address holds as many connections as the cap allows.</summary>
    [Fact]
    public async Task Unset_OneAddressIsNotLimited()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.TrustedProxies = []);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                held.Add(await KeptAliveAsync(Greedy, gateway.Port));
            }

            Assert.Equal(0, await gateway.MetricAsync("eventsourced_connections_rejected_per_client_total"));
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    private static Socket Bound(IPAddress from)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(from, 0));
        return socket;
    }

    /// <summary>A connection from <paramref name="from"/> that was answered 200 and is kept alive.</summary>
    private static async Task<Socket> KeptAliveAsync(IPAddress from, int port)
    {
        var socket = Bound(from);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var status = await RequestAsync(socket);
            Assert.True(status?.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) == true, $"a connection from {from} within its share was answered '{status}'");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The answer's first bytes to a kept-alive <c>GET /healthz</c>, or null when the gateway closed the connection instead.</summary>
    private static async Task<string?> RequestAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), SocketFlags.None, timeout.Token);
            var buffer = new byte[1024];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return read == 0 ? null : Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>A new connection's answer from <paramref name="from"/>, or null when the gateway closed it unanswered.</summary>
    private static async Task<string?> ProbeAsync(IPAddress from, int port)
    {
        using var socket = Bound(from);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return await RequestAsync(socket);
    }
}
