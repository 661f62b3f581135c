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
}
