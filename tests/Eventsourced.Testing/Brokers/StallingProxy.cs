using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// A TCP proxy on loopback in front of a broker that passes everything both ways until a client sends the AMQP
/// method it waits for (say <c>queue.declare</c>, the <see cref="Count"/>th time): from then on it passes nothing
/// more from the broker to any client, as a stalled node would (a frozen cluster member that the queue needs, an
/// overloaded broker). The call is left unanswered, heartbeats included, until the proxy is disposed, which closes
/// every connection through it. The client's own bytes still reach the broker.
/// </summary>
public sealed class StallingProxy : LoopbackProxy
{
    /// <summary><c>queue.declare</c> (class 50, method 10).</summary>
    public static readonly (ushort ClassId, ushort MethodId) QueueDeclare = (50, 10);

    /// <summary><c>basic.consume</c> (class 60, method 20).</summary>
    public static readonly (ushort ClassId, ushort MethodId) BasicConsume = (60, 20);

    private const int ProtocolHeaderLength = 8;
    private const int FrameHeaderLength = 7;
    private const byte MethodFrame = 1;

    private readonly (ushort ClassId, ushort MethodId) _method;
    private readonly TaskCompletionSource _stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _seen;

    private StallingProxy(EndPoint target, (ushort ClassId, ushort MethodId) method, int count)
        : base(target)
    {
        _method = method;
        Count = count;
    }

    /// <summary>Which sending of the method stalls the broker's side: 1 the first.</summary>
    public int Count { get; }

    /// <summary>Completes when the method was sent the <see cref="Count"/>th time and the broker's side stalled.</summary>
    public Task Stalled => _stalled.Task;

    /// <summary>Stalls the broker's side now, whatever the clients sent: nothing more reaches them.</summary>
    public void Stall() => _stalled.TrySetResult();

    /// <summary>A proxy to the broker of <paramref name="amqpUrl"/>, and that URL rewritten to go through it.</summary>
    public static (StallingProxy Proxy, string AmqpUrl) ForBroker(string amqpUrl, (ushort ClassId, ushort MethodId) method, int count = 1)
    {
        var proxy = new StallingProxy(BrokerOf(amqpUrl), method, count);
        return (proxy, proxy.Through(amqpUrl));
    }

    /// <summary>Client to broker: passed on as it comes, its frames read along to find the method.</summary>
    protected override Task ToTargetAsync(Socket client, Socket target, CancellationToken cancellationToken) =>
        WatchAndCopyAsync(client, target, cancellationToken);

    /// <summary>Broker to client: passed on until the proxy stalls, then held back (never delivered).</summary>
    protected override Task ToClientAsync(Socket target, Socket client, CancellationToken cancellationToken) =>
        CopyUntilStalledAsync(target, client, cancellationToken);

    private async Task WatchAndCopyAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var pending = new List<byte>();
        var headerLeft = ProtocolHeaderLength;
        while (true)
        {
            var read = await from.ReceiveAsync(buffer, cancellationToken);
            if (read == 0)
            {
                to.Shutdown(SocketShutdown.Send);
                return;
            }

            var chunk = buffer.AsSpan(0, read);
            var skip = Math.Min(headerLeft, chunk.Length);
            headerLeft -= skip;
            pending.AddRange(chunk[skip..]);
            Watch(pending);
            await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    /// <summary>Consumes whole frames from <paramref name="pending"/>, stalling the broker's side at the method's <see cref="Count"/>th sending.</summary>
    private void Watch(List<byte> pending)
    {
        while (pending.Count >= FrameHeaderLength)
        {
            var header = pending.GetRange(0, FrameHeaderLength).ToArray();
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(3));
            var frameLength = FrameHeaderLength + size + 1;
            if (pending.Count < frameLength)
            {
                return;
            }

            if (header[0] == MethodFrame && size >= 4)
            {
                var ids = pending.GetRange(FrameHeaderLength, 4).ToArray();
                var method = (BinaryPrimitives.ReadUInt16BigEndian(ids), BinaryPrimitives.ReadUInt16BigEndian(ids.AsSpan(2)));
                if (method == _method && Interlocked.Increment(ref _seen) == Count)
                {
                    _stalled.TrySetResult();
                }
            }

            pending.RemoveRange(0, frameLength);
        }
    }

    private async Task CopyUntilStalledAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await from.ReceiveAsync(buffer, cancellationToken);
            if (read == 0)
            {
                to.Shutdown(SocketShutdown.Send);
                return;
            }

            if (_stalled.Task.IsCompleted)
            {
                // Held back for good: the client waits for an answer that never comes.
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            await to.SendAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }
}
