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
    private readonly string _webSocketPrefix;

    /// <param name="tokens">When given, every request carries its own token for its queue (<c>?access_token=</c>), as a page's EventSource would.</param>
    /// <param name="webSocketPath">Where WebSockets are opened (<c>ws.path</c>).</param>
    public SseConnector(Uri gateway, int sources, SubscriberTokens? tokens = null, string webSocketPath = "/ws")
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
        _webSocketPrefix = $"{webSocketPath}?acks=client&id=";
        _sources = sources > 0 && IPAddress.IsLoopback(address) && address.AddressFamily == AddressFamily.InterNetwork
            ? Enumerable.Range(2, Math.Min(sources, 250)).Select(i => new IPAddress(new byte[] { 127, 0, 0, (byte)i })).ToArray()
            : [];
    }

    /// <summary>
    /// The request that subscribes to <paramref name="topic"/> at the gateway's <c>/topics/</c>, as a browser's EventSource
    /// sends it: with <c>Last-Event-ID</c> when it reconnects after the event <paramref name="lastEventId"/>.
    /// </summary>
    public byte[] TopicRequest(string topic, long? lastEventId = null) => Encoding.ASCII.GetBytes(
        $"GET /topics/{Uri.EscapeDataString(topic)} HTTP/1.1\r\nHost: {_host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n" +
        (lastEventId is { } id ? $"Last-Event-ID: {id}\r\n" : "") + "\r\n");

    /// <summary>The request that opens the stream of <paramref name="queue"/>, as a browser's EventSource sends it.</summary>
    public byte[] Request(string queue) => Encoding.ASCII.GetBytes(
        $"GET {_pathAndQueryPrefix}{Uri.EscapeDataString(queue)}{(_tokens is null ? "" : "&access_token=" + _tokens.For(queue))} HTTP/1.1\r\nHost: {_host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");

    /// <summary>
    /// The upgrade that opens a WebSocket on <paramref name="queue"/>, acknowledged by the client (<c>acks=client</c>),
    /// as a browser's <c>new WebSocket(url)</c> sends it (the key is fixed: the tool does not check the answer's accept hash).
    /// </summary>
    public byte[] WebSocketRequest(string queue) => Encoding.ASCII.GetBytes(
        $"GET {_webSocketPrefix}{Uri.EscapeDataString(queue)}{(_tokens is null ? "" : "&access_token=" + _tokens.For(queue))} HTTP/1.1\r\nHost: {_host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: ZXZlbnRzb3VyY2VkLWJuYw==\r\nSec-WebSocket-Version: 13\r\n\r\n");

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
