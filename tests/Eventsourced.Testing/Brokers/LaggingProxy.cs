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
public sealed class LaggingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly EndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;

    private LaggingProxy(EndPoint target, TimeSpan lag)
    {
        _target = target;
        Lag = lag;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public TimeSpan Lag { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>A proxy to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static LaggingProxy Start(string host, int port, TimeSpan lag) =>
        new(new DnsEndPoint(host, port), lag);

    /// <summary>A proxy to the broker of <paramref name="amqpUrl"/>, and that URL rewritten to go through it.</summary>
    public static (LaggingProxy Proxy, string AmqpUrl) ForBroker(string amqpUrl, TimeSpan lag)
    {
        var url = new Uri(amqpUrl);
        var proxy = Start(url.Host, url.Port, lag);
        var through = new UriBuilder(url) { Host = "127.0.0.1", Port = proxy.Port }.Uri.ToString();
        return (proxy, through);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Task[] pumps;
        lock (_pumps)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll([_accepting, .. pumps]).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            lock (_pumps)
            {
                _pumps.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using (client)
        {
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = CopyAsync(client, server, TimeSpan.Zero, done.Token);
                var down = CopyAsync(server, client, Lag, done.Token);
                await Task.WhenAny(up, down);
                await done.CancelAsync();
                await Task.WhenAll(up, down).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            catch (Exception)
            {
                // One side went away, or the proxy stops: the other side is closed with it.
            }
        }
    }

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
