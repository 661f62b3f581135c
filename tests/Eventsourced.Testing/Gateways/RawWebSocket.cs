using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Eventsourced.Testing.Gateways;

/// <summary>
/// A WebSocket over a plain TCP socket, for what no WebSocket client library sends (a frame header declaring 2^63-1
/// bytes, a close reason that is not UTF-8, a reserved opcode): the upgrade written by hand, frames written as bytes,
/// and what the gateway sends read as bytes.
/// </summary>
public static class RawWebSocket
{
    /// <summary>RFC 6455's example key: a server checks only that there is one of 16 bytes.</summary>
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    /// <summary>
    /// Connects to 127.0.0.1:<paramref name="port"/> and asks to upgrade <paramref name="pathAndQuery"/> (from
    /// <paramref name="origin"/> when given). Returns the connection and the answer's head (status line and headers,
    /// up to the empty line), whatever the status: a refusal's body, if any, is left unread.
    /// </summary>
    public static async Task<(TcpClient Client, string Head)> UpgradeAsync(int port, string pathAndQuery, string? origin = null, TimeSpan? timeout = null)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            var handshake = $"GET {pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                + (origin is null ? string.Empty : $"Origin: {origin}\r\n")
                + $"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {Key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(handshake));
            var head = await ReadUntilAsync(stream, "\r\n\r\n"u8.ToArray(), timeout ?? TimeSpan.FromSeconds(20));
            return (client, Encoding.ASCII.GetString(head));
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>A client's frame: <paramref name="first"/> (FIN, RSV and opcode) and <paramref name="payload"/> (under 126 bytes), masked with <paramref name="mask"/> (four bytes).</summary>
    public static byte[] Frame(byte first, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> mask)
    {
        if (payload.Length > 125 || mask.Length != 4)
        {
            throw new ArgumentException("a payload under 126 bytes and a mask of four");
        }

        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = first;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame.AsSpan(2));
        for (var i = 0; i < payload.Length; i++)
        {
            frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        return frame;
    }

    /// <summary>
    /// One frame the gateway sends whose payload is under 126 bytes (every close frame's is): its two header bytes and the
    /// payload. <see cref="TimeoutException"/> when it has not come whole within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<byte[]> ReadShortFrameAsync(Stream stream, TimeSpan timeout)
    {
        var bytes = new List<byte>();
        var buffer = new byte[256];
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (bytes.Count < 2 || bytes.Count < 2 + (bytes[1] & 0x7F))
            {
                var read = await stream.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    throw new IOException($"the connection ended before a whole frame; got {Convert.ToHexString([.. bytes])}");
                }

                bytes.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"no whole frame within {timeout.TotalSeconds} s; got {Convert.ToHexString([.. bytes])}");
        }

        return [.. bytes];
    }

    /// <summary>
    /// The code and reason of <paramref name="frame"/>, which must be one whole close frame (FIN and opcode 8, a length
    /// that is the rest's, a code); <see cref="InvalidDataException"/> otherwise, naming the bytes.
    /// </summary>
    public static (int Code, string Reason) CloseOf(byte[] frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (frame.Length < 4 || frame[0] != 0x88 || frame[1] != frame.Length - 2)
        {
            throw new InvalidDataException($"not one whole close frame with a code: {Convert.ToHexString(frame)}");
        }

        return ((frame[2] << 8) | frame[3], Encoding.UTF8.GetString(frame, 4, frame.Length - 4));
    }

    /// <summary>Everything the gateway sends, up to the end of the connection (a reset throws), within <paramref name="timeout"/>.</summary>
    public static async Task<byte[]> ReadToEndAsync(Stream stream, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var received = new MemoryStream();
        var buffer = new byte[1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, deadline.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }

    /// <summary>What the gateway sends, byte by byte, up to and with <paramref name="end"/>, within <paramref name="timeout"/>.</summary>
    public static async Task<byte[]> ReadUntilAsync(Stream stream, byte[] end, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var read = new List<byte>();
        var one = new byte[1];
        while (read.Count < end.Length || !CollectionsMarshal.AsSpan(read)[^end.Length..].SequenceEqual(end))
        {
            if (await stream.ReadAsync(one, deadline.Token) != 1)
            {
                throw new IOException($"the connection ended after {Encoding.ASCII.GetString([.. read])}");
            }

            read.Add(one[0]);
        }

        return [.. read];
    }
}
