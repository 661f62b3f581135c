using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Eventsourced.Bench.Sse;

/// <summary>
/// Opens client sockets to the gateway. On loopback they are spread over several source addresses
/// (127.0.0.2, 127.0.0.3, ...) so that tens of thousands of connections, plus the TIME_WAIT of earlier
/// scenarios, never run out of ephemeral ports.
/// </summary>
internal sealed class SseConnector
{
    // Linux: let connect() pick the port, per source address, instead of bind() reserving one globally.
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    private readonly IPEndPoint _endpoint;
    private readonly IPAddress[] _sources;
    private readonly string _pathAndQueryPrefix;
    private readonly string _host;

    private readonly SubscriberTokens? _tokens;

    /// <param name="tokens">When given, every request carries its own token for its queue (<c>?access_token=</c>), as a page's EventSource would.</param>
    public SseConnector(Uri gateway, int sources, SubscriberTokens? tokens = null)
    {
        _tokens = tokens;
        var address = IPAddress.TryParse(gateway.Host.Trim('[', ']'), out var ip)
            ? ip
            : Dns.GetHostAddresses(gateway.Host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        _endpoint = new IPEndPoint(address, gateway.Port);
        _host = gateway.Authority;
        var path = gateway.AbsolutePath;
        var query = gateway.Query;
        _pathAndQueryPrefix = query.Length > 1 ? $"{path}{query}&id=" : $"{path}?id=";
        _sources = sources > 0 && IPAddress.IsLoopback(address) && address.AddressFamily == AddressFamily.InterNetwork
            ? Enumerable.Range(2, Math.Min(sources, 250)).Select(i => new IPAddress(new byte[] { 127, 0, 0, (byte)i })).ToArray()
            : [];
    }

    /// <summary>The request that opens the stream of <paramref name="queue"/>, as a browser's EventSource sends it.</summary>
    public byte[] Request(string queue) => Encoding.ASCII.GetBytes(
        $"GET {_pathAndQueryPrefix}{Uri.EscapeDataString(queue)}{(_tokens is null ? "" : "&access_token=" + _tokens.For(queue))} HTTP/1.1\r\nHost: {_host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");

    /// <summary>
    /// A non-blocking socket whose connect has started (on loopback it may already be done): the
    /// <see cref="EpollReactor"/> waits for it to be writable. No async operation ever runs on it, so
    /// .NET's own socket engine never watches it.
    /// </summary>
    public Socket Open(int index)
    {
        var socket = new Socket(_endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
        try
        {
            if (_sources.Length > 0)
            {
                if (OperatingSystem.IsLinux())
                {
                    socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
                }

                socket.Bind(new IPEndPoint(_sources[index % _sources.Length], 0));
            }

            try
            {
                socket.Connect(_endpoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                // Connecting: the reactor learns the outcome when the socket becomes writable.
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
