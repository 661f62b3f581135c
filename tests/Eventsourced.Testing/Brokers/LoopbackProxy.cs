using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A TCP proxy on loopback in front of one target (a broker): each client connection gets its own connection to the
/// target, and two pumps of the subclass's making carry the bytes, one each way. When either pump ends, both end and
/// both connections close; disposing the proxy closes them all.
/// </summary>
public abstract class LoopbackProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly EndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Task _accepting;
    private int _disposed;

    protected LoopbackProxy(EndPoint target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        // No client can connect before the constructor has returned the port, so the subclass's own state is set by then.
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Stop();
        Task[] pumps;
        lock (_pumps)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll([_accepting, .. pumps]).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The broker of <paramref name="amqpUrl"/> as a proxy's target.</summary>
    protected static EndPoint BrokerOf(string amqpUrl)
    {
        var url = new Uri(amqpUrl);
        return new DnsEndPoint(url.Host, url.Port);
    }

    /// <summary><paramref name="amqpUrl"/> rewritten to go through this proxy.</summary>
    protected string Through(string amqpUrl) => new UriBuilder(new Uri(amqpUrl)) { Host = "127.0.0.1", Port = Port }.Uri.ToString();

    /// <summary>Carries the client's bytes to the target until the client's side ends (or <paramref name="cancellationToken"/>).</summary>
    protected abstract Task ToTargetAsync(Socket client, Socket target, CancellationToken cancellationToken);

    /// <summary>Carries the target's bytes to the client until the target's side ends (or <paramref name="cancellationToken"/>).</summary>
    protected abstract Task ToClientAsync(Socket target, Socket client, CancellationToken cancellationToken);

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
                var up = ToTargetAsync(client, server, done.Token);
                var down = ToClientAsync(server, client, done.Token);
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
}
