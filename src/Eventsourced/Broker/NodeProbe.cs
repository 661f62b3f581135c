using System.Net.Sockets;

namespace Eventsourced.Broker;

/// <summary>
/// Whether a broker node answers, at the cost of one short TCP connection: connect, send the AMQP 0-9-1
/// protocol header, and wait for the first byte of the node's <c>connection.start</c>. A stopped node refuses
/// the connection; a stalled one (a frozen process, whose kernel still accepts) sends nothing. For
/// <c>amqps://</c> an accepted connection is all it asks (the header would have to go through TLS).
/// </summary>
internal static class NodeProbe
{
    /// <summary>How long one probe waits for an answer.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    private static readonly byte[] ProtocolHeader = "AMQP\0\0\u0009\u0001"u8.ToArray();

    public static async Task<bool> AnswersAsync(BrokerUrl url, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(url.Host, url.Port, timeout.Token);
            if (url.IsTls)
            {
                return true;
            }

            await socket.SendAsync(ProtocolHeader, SocketFlags.None, timeout.Token);
            var first = new byte[1];
            // A frame of type 1 (method): connection.start.
            return await socket.ReceiveAsync(first, SocketFlags.None, timeout.Token) == 1 && first[0] == 1;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// What a plain (<c>amqp://</c>) node that failed the AMQP handshake answers to the protocol header, when that is
    /// no AMQP 0-9-1 broker's answer: an HTTP server, a TLS listener, another protocol's port written in the URL. Null
    /// when it answers like a broker, cannot be reached or does not answer within <see cref="Timeout"/>, or for
    /// <c>amqps://</c>.
    /// </summary>
    public static async Task<string?> ForeignAnswerAsync(BrokerUrl url, CancellationToken cancellationToken = default)
    {
        if (url.IsTls)
        {
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(url.Host, url.Port, timeout.Token);
            await socket.SendAsync(ProtocolHeader, SocketFlags.None, timeout.Token);
            var answer = new byte[16];
            var read = await socket.ReceiveAsync(answer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                return $"{url.Endpoint} closes the connection without answering AMQP's protocol header (a TLS port? then write amqps://)";
            }

            if (answer[0] == 1)
            {
                return null; // A connection.start: the handshake failed for another reason.
            }

            if (read >= 4 && answer.AsSpan(0, 4).SequenceEqual("AMQP"u8))
            {
                return $"{url.Endpoint} speaks another version of AMQP than 0-9-1";
            }

            if (answer[0] == 0x15 || answer[0] == 0x16)
            {
                return $"{url.Endpoint} is a TLS listener: write amqps:// to use it";
            }

            var text = new string([.. answer.Take(read).Select(b => b is >= 0x20 and < 0x7f ? (char)b : '.')]);
            return $"{url.Endpoint} answers, but not as an AMQP broker (its first bytes: '{text}'): is that RabbitMQ's AMQP port (5672 by default)?";
        }
        catch (SocketException)
        {
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }
}
