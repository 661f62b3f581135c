using System.Net.Sockets;
using System.Text;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>An HTTP/1.1 answer as read off the socket.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>
/// Sends a request target byte for byte (HttpClient would normalise <c>/./x</c> or unescape <c>%6d</c>) and reads
/// the answer to the end (<c>Connection: close</c>). Chunked bodies are returned with their chunk framing.
/// </summary>
public static class RawHttp
{
    /// <summary>
    /// The status line of <c>GET /healthz</c> (HTTP/1.0) on <paramref name="port"/>, its request head sent in two pieces a second
    /// apart, the first a second after connecting: a slow client within a headers timeout of a few seconds.
    /// </summary>
    public static async Task<string> SlowHealthCheckAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await socket.SendAsync("GET /hea"u8.ToArray());
        await Task.Delay(TimeSpan.FromSeconds(1));
        await socket.SendAsync("lthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    /// <summary>
    /// A client that asks for the SSE stream <paramref name="target"/> on <paramref name="port"/> with a receive buffer of
    /// <paramref name="receiveBuffer"/> bytes, and reads nothing unless the test does: one that stopped reading.
    /// </summary>
    public static async Task<Socket> OpenNotReadingAsync(int port, string target, int receiveBuffer = 4096)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = receiveBuffer };
        try
        {
            await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async Task<RawResponse> SendAsync(Uri server, string method, string target, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, cts.Token);
        await using var stream = client.GetStream();
        var request = $"{method} {target} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, cts.Token);
        var text = Encoding.UTF8.GetString(received.ToArray());
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            throw new InvalidOperationException($"{method} {target}: no complete answer: {text}");
        }

        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        return new RawResponse(status, headers, text[(end + 4)..]);
    }
}
