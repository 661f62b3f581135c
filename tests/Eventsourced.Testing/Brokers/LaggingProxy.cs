using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A TCP proxy on loopback that holds every chunk the server sends back for <see cref="Lag"/> before passing it
/// on (in order), so that each broker round trip of a client behind it (channel.open, queue.declare,
/// basic.consume) takes at least that long: a window a test can hit on purpose, such as a client that leaves
/// while its channel is being opened.
/// </summary>
public sealed class LaggingProxy : LoopbackProxy
{
    private LaggingProxy(EndPoint target, TimeSpan lag)
        : base(target)
    {
        Lag = lag;
    }

    public TimeSpan Lag { get; }

    /// <summary>A proxy to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static LaggingProxy Start(string host, int port, TimeSpan lag) =>
        new(new DnsEndPoint(host, port), lag);

    /// <summary>A proxy to the broker of <paramref name="amqpUrl"/>, and that URL rewritten to go through it.</summary>
    public static (LaggingProxy Proxy, string AmqpUrl) ForBroker(string amqpUrl, TimeSpan lag)
    {
        var proxy = new LaggingProxy(BrokerOf(amqpUrl), lag);
        return (proxy, proxy.Through(amqpUrl));
    }

    protected override Task ToTargetAsync(Socket client, Socket target, CancellationToken cancellationToken) =>
        CopyAsync(client, target, TimeSpan.Zero, cancellationToken);

    protected override Task ToClientAsync(Socket target, Socket client, CancellationToken cancellationToken) =>
        CopyAsync(target, client, Lag, cancellationToken);

    private static async Task CopyAsync(Socket from, Socket to, TimeSpan lag, CancellationToken cancellationToken)
    {
        var chunks = Channel.CreateUnbounded<(long Due, byte[] Bytes)>();
        var reading = Task.Run(async () =>
        {
            try
            {
                var buffer = new byte[64 * 1024];
                while (true)
                {
                    var read = await from.ReceiveAsync(buffer, cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    chunks.Writer.TryWrite((Environment.TickCount64 + (long)lag.TotalMilliseconds, buffer[..read]));
                }
            }
            finally
            {
                chunks.Writer.TryComplete();
            }
        }, cancellationToken);

        await foreach (var (due, bytes) in chunks.Reader.ReadAllAsync(cancellationToken))
        {
            var wait = due - Environment.TickCount64;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait), cancellationToken);
            }

            await to.SendAsync(bytes, cancellationToken);
        }

        await reading;
        to.Shutdown(SocketShutdown.Send);
    }
}
