using System.Net;
using System.Net.Sockets;
using Eventsourced.Testing.Brokers;

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// A TCP proxy on loopback in front of a gateway whose network the test can make go dark, as a laptop that slept or a
/// NAT that forgot its connections would: from <see cref="GoDark"/> on, every connection open through it passes
/// nothing more either way, for good, and neither side learns of it (no FIN, no reset, not even when the other side
/// closes). Connections made after <see cref="ComeBack"/> pass as before; the dark ones stay dark.
/// </summary>
public sealed class DarkNetworkProxy : LoopbackProxy
{
    private readonly HashSet<Socket> _open = [];
    private readonly HashSet<Socket> _dark = [];
    private bool _down;

    public DarkNetworkProxy(int port)
        : base(new IPEndPoint(IPAddress.Loopback, port))
    {
    }

    /// <summary>Connections made through the proxy so far.</summary>
    public int Connections { get; private set; }

    /// <summary>Every open connection goes dark for good, and so does any made until <see cref="ComeBack"/>.</summary>
    public void GoDark()
    {
        lock (_open)
        {
            _down = true;
            _dark.UnionWith(_open);
        }
    }

    /// <summary>New connections pass again; those that went dark stay dark.</summary>
    public void ComeBack()
    {
        lock (_open)
        {
            _down = false;
        }
    }

    protected override Task ToTargetAsync(Socket client, Socket target, CancellationToken cancellationToken)
    {
        lock (_open)
        {
            _open.Add(client);
            Connections++;
            if (_down)
            {
                _dark.Add(client);
            }
        }

        return PumpAsync(client, client, target, cancellationToken);
    }

    protected override Task ToClientAsync(Socket target, Socket client, CancellationToken cancellationToken) =>
        PumpAsync(client, target, client, cancellationToken);

    private bool IsDark(Socket client)
    {
        lock (_open)
        {
            return _dark.Contains(client);
        }
    }

    private async Task PumpAsync(Socket client, Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = IsDark(client) ? 0 : await from.ReceiveAsync(buffer, cancellationToken);
                if (IsDark(client))
                {
                    // What was read goes nowhere, and so does an end: the other side never hears of it.
                    await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
                }

                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        finally
        {
            lock (_open)
            {
                _open.Remove(client);
            }
        }
    }
}
