using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Eventsourced.Limits;

/// <summary>
/// Kestrel's socket transport with each listener's <see cref="ConnectionGate"/> applied where connections are
/// accepted. Kestrel's cap and connection middleware run on the thread pool after the accept loop has moved on, so
/// under a flood the accepted sockets waiting to be refused piled up faster than they were closed: with
/// <c>limits.max_connections</c> lowered to what <c>ulimit -n</c> allows, that pile still ran the process out of
/// descriptors (EMFILE in accept, "Out of memory", abort). Here a connection beyond its listener's total is closed
/// before the next accept, and a place is held until the socket is closed, so the sockets a listener holds never
/// exceed its gate. Kestrel has no accept hook (its options configure the listening socket only), hence the
/// decorator.
/// </summary>
internal sealed class GatedListenerFactory(IConnectionListenerFactory inner, ListenerGates gates)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var gate = gates.Of(endpoint);
        var listener = await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        return gate is null ? listener : new GatedListener(listener, gate);
    }

    private sealed class GatedListener(IConnectionListener inner, ConnectionGate gate) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
                if (connection is null)
                {
                    return null; // unbound
                }

                if (gate.TryEnter())
                {
                    UInt128? client = null;
                    if (gate.PerClient is not { } perClient || perClient.TryEnter(connection.RemoteEndPoint, out client))
                    {
                        return new GatedConnection(connection, gate, client);
                    }

                    gate.Leave();
                }

                // Closed unread, as Kestrel closes what passes its cap, but before the next accept.
                try
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    // Out of AcceptAsync, it would end Kestrel's accept loop: the listener would accept nothing more.
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    /// <summary>The transport's connection, giving its places in the gate back once disposed (its socket closed).</summary>
    private sealed class GatedConnection(ConnectionContext inner, ConnectionGate gate, UInt128? client) : ConnectionContext
    {
        private int _disposed;

        public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }

        public override IFeatureCollection Features => inner.Features;

        public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }

        public override System.IO.Pipelines.IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }

        public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }

        public override EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }

        public override EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }

        public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                await inner.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                gate.PerClient?.Leave(client);
                gate.Leave();
            }
        }
    }
}
