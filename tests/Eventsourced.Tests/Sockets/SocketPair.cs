using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Tests.Sockets;

/// <summary>Both ends of a real TCP connection on loopback.</summary>
internal sealed class SocketPair : IDisposable
{
    private SocketPair(Socket server, Socket client)
    {
        Server = server;
        Client = client;
    }

    public Socket Server { get; }

    public Socket Client { get; }

    /// <param name="bufferBytes">Kernel buffers this small on both ends (the kernel doubles and rounds them), so that a client that does not read fills them quickly.</param>
    public static async Task<SocketPair> CreateAsync(int? bufferBytes = null)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (bufferBytes is { } size)
        {
            listener.ReceiveBufferSize = size;
            listener.SendBufferSize = size;
        }

        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (bufferBytes is { } clientSize)
        {
            client.ReceiveBufferSize = clientSize;
            client.SendBufferSize = clientSize;
        }

        await client.ConnectAsync(listener.LocalEndPoint!);
        var server = await listener.AcceptAsync();
        if (bufferBytes is { } serverSize)
        {
            server.SendBufferSize = serverSize;
        }

        return new SocketPair(server, client);
    }

    public void Dispose()
    {
        Server.Dispose();
        Client.Dispose();
    }
}
