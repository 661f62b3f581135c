using System.Net;
using System.Net.Sockets;
using Eventsourced.Limits;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Limits;

/// <summary>Kestrel's socket transport on loopback with a gate applied where it accepts.</summary>
public sealed class GatedListenerFactoryTests
{
    private const int Limit = 2;

    [Fact]
    public async Task AcceptAsync_BeyondTheGate_ClosesTheExcessBeforeTheNextAccept_AndCountsEachOnce()
    {
        var rejected = 0;
        var gate = new ConnectionGate(Limit, () => Interlocked.Increment(ref rejected));
        await using var listener = await BindAsync(gate);
        var port = ((IPEndPoint)listener.EndPoint).Port;
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < Limit + 3; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                clients.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, port);
            }

            var held = new List<ConnectionContext>();
            for (var i = 0; i < Limit; i++)
            {
                held.Add((await listener.AcceptAsync())!);
            }

            // The next accept closes the three beyond the gate and waits for a connection that fits.
            using var waiting = new CancellationTokenSource();
            var next = listener.AcceptAsync(waiting.Token).AsTask();
            foreach (var excess in clients.Skip(Limit))
            {
                Assert.True(await ClosedAsync(excess), "a connection beyond the gate was left open");
            }

            Assert.Equal(3, rejected);
            Assert.Equal(Limit, gate.Open);
            Assert.False(next.IsCompleted);

            // A place given back (the socket closed) lets the next connection in.
            await held[0].DisposeAsync();
            await held[0].DisposeAsync(); // twice gives back one place
            Assert.Equal(Limit - 1, gate.Open);
            using var late = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await late.ConnectAsync(IPAddress.Loopback, port);
            var accepted = await next.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotNull(accepted);
            Assert.Equal(((IPEndPoint)late.LocalEndPoint!).Port, ((IPEndPoint)accepted.RemoteEndPoint!).Port);
            Assert.Equal(Limit, gate.Open);
            Assert.Equal(3, rejected);
            await accepted.DisposeAsync();
            await held[1].DisposeAsync();
            Assert.Equal(0, gate.Open);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task BindAsync_AnAddressWithoutAGate_AcceptsEverything()
    {
        var factory = new GatedListenerFactory(Transport(), new ListenerGates());
        await using var listener = await factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)listener.EndPoint).Port;
        var clients = Enumerable.Range(0, 5).Select(_ => new Socket(SocketType.Stream, ProtocolType.Tcp)).ToList();
        try
        {
            foreach (var client in clients)
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
                await using var accepted = await listener.AcceptAsync();
                Assert.NotNull(accepted);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    private static async Task<IConnectionListener> BindAsync(ConnectionGate gate)
    {
        // Port 0 is registered as bound: a new port, the same endpoint for the gate.
        var endpoint = new IPEndPoint(IPAddress.Loopback, 0);
        var gates = new ListenerGates();
        gates.Add(endpoint, gate);
        return await new GatedListenerFactory(Transport(), gates).BindAsync(endpoint);
    }

    private static SocketTransportFactory Transport() => new(Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance);

    private static async Task<bool> ClosedAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            return await socket.ReceiveAsync(new byte[1], SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
