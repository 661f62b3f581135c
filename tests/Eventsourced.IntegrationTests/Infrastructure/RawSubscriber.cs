using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>An HTTP/1.1 subscriber on a raw socket that decodes the chunked body itself, refusing any malformed chunk.</summary>
public sealed class RawSubscriber : IDisposable
{
    private readonly Socket _socket;
    private readonly List<byte> _unread = [];
    private readonly StringBuilder _body = new();
    private readonly Dictionary<string, string> _headers = new(StringComparer.OrdinalIgnoreCase);
    private readonly Uri _server;

    private RawSubscriber(Socket socket, Uri server)
    {
        _socket = socket;
        _server = server;
    }

    public int Status { get; private set; }

    public string Body => _body.ToString();

    public bool EndedWithLastChunk { get; private set; }

    public string? Header(string name) => _headers.TryGetValue(name, out var value) ? value : null;

    /// <param name="headers">More request header lines (<c>Name: value</c>), such as a proxy's <c>X-Forwarded-Proto</c>.</param>
    public static async Task<RawSubscriber> OpenAsync(Uri server, string target, bool keepAlive = false, params string[] headers)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, server.Port);
        var subscriber = new RawSubscriber(socket, server);
        await subscriber.RequestAsync(target, keepAlive, TimeSpan.FromSeconds(30), headers);
        return subscriber;
    }

    /// <summary>Another request on the same connection, once the previous response has ended; its answer, read whole.</summary>
    public async Task<RawSubscriber> SendAsync(string target, TimeSpan timeout)
    {
        _body.Clear();
        EndedWithLastChunk = false;
        await RequestAsync(target, keepAlive: true, timeout);
        if (Header("Content-Length") is { } length)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (_unread.Count < int.Parse(length, System.Globalization.CultureInfo.InvariantCulture))
            {
                await FillAsync(cts.Token);
            }
        }
        else
        {
            await ReadToEndAsync(timeout);
        }

        return this;
    }

    public async Task ReadUntilAsync(Func<string, bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!done(Body))
        {
            if (EndedWithLastChunk)
            {
                throw new InvalidOperationException($"the response ended first: {Body}");
            }

            await ReadChunkAsync(cts.Token);
        }
    }

    public async Task ReadToEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!EndedWithLastChunk)
        {
            await ReadChunkAsync(cts.Token);
        }
    }

    public void Dispose() => _socket.Dispose();

    private async Task RequestAsync(string target, bool keepAlive, TimeSpan timeout, string[]? headers = null)
    {
        var request = $"GET {target} HTTP/1.1\r\nHost: {_server.Authority}\r\nAccept: text/event-stream\r\n" +
            string.Concat((headers ?? []).Select(h => h + "\r\n")) +
            (keepAlive ? string.Empty : "Connection: close\r\n") + "\r\n";
        await _socket.SendAsync(Encoding.ASCII.GetBytes(request));
        using var cts = new CancellationTokenSource(timeout);
        var head = await ReadLineAsync(cts.Token);
        Status = int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        _headers.Clear();
        for (var line = await ReadLineAsync(cts.Token); line.Length > 0; line = await ReadLineAsync(cts.Token))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            _headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
    }

    private async Task ReadChunkAsync(CancellationToken cancellationToken)
    {
        var sizeLine = await ReadLineAsync(cancellationToken);
        var size = Convert.ToInt32(sizeLine, 16); // throws on anything but a chunk size
        while (_unread.Count < size + 2)
        {
            await FillAsync(cancellationToken);
        }

        if (_unread[size] != '\r' || _unread[size + 1] != '\n')
        {
            throw new InvalidOperationException($"chunk of {size} bytes not followed by CRLF: {Encoding.UTF8.GetString([.. _unread])}");
        }

        _body.Append(Encoding.UTF8.GetString([.. _unread.Take(size)]));
        _unread.RemoveRange(0, size + 2);
        EndedWithLastChunk = size == 0;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            for (var i = 0; i + 1 < _unread.Count; i++)
            {
                if (_unread[i] == '\r' && _unread[i + 1] == '\n')
                {
                    var line = Encoding.ASCII.GetString([.. _unread.Take(i)]);
                    _unread.RemoveRange(0, i + 2);
                    return line;
                }
            }

            await FillAsync(cancellationToken);
        }
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        if (read == 0)
        {
            throw new IOException($"connection closed; body so far: {Body}");
        }

        _unread.AddRange(buffer.AsSpan(0, read).ToArray());
    }
}
