using RabbitMQ.Client;

namespace Eventsourced.Bench.Amqp;

/// <summary>
/// The connections for one plain consumer per queue, up to <see cref="BrokerClient.ChannelsPerConnection"/>
/// channels each, opened before a measurement starts (the gateway's are up before its run too) and
/// closed on dispose.
/// </summary>
internal sealed class ConsumerConnections : IAsyncDisposable
{
    private readonly List<IConnection> _connections;

    private ConsumerConnections(List<IConnection> connections) => _connections = connections;

    /// <summary>Enough connections for <paramref name="queues"/> consumers, named "<paramref name="name"/> #1", "#2", ...</summary>
    public static async Task<ConsumerConnections> OpenAsync(BrokerClient broker, int queues, string name)
    {
        var connections = new List<IConnection>();
        try
        {
            for (var i = 0; i < queues; i += BrokerClient.ChannelsPerConnection)
            {
                connections.Add(await broker.ConnectAsync($"{name} #{connections.Count + 1}"));
            }
        }
        catch
        {
            await new ConsumerConnections(connections).DisposeAsync();
            throw;
        }

        return new ConsumerConnections(connections);
    }

    /// <summary>
    /// Consumes queue i with <paramref name="create"/>(channel, i) on its own channel, with the gateway's
    /// prefetch and manual acks; all queues at once.
    /// </summary>
    /// <param name="first">The index of the first of <paramref name="queues"/> among all this object's consumers.</param>
    /// <param name="spread">Channel n on connection n modulo the connections (new channels share connections with
    /// consumers already delivering, as the gateway's do), instead of filling one connection after another.</param>
    /// <param name="declareExpiresSeconds">When not null, each queue is declared first as the gateway declares it
    /// (durable, <c>x-expires</c>), on the consumer's channel.</param>
    public Task<T[]> ConsumeAsync<T>(
        IReadOnlyList<string> queues, int prefetch, bool exclusive, Func<IChannel, int, T> create, int first = 0, bool spread = false, int? declareExpiresSeconds = null)
        where T : IAsyncBasicConsumer => Task.WhenAll(queues.Select(async (queue, i) =>
        {
            var n = first + i;
            var channel = await _connections[spread ? n % _connections.Count : n / BrokerClient.ChannelsPerConnection].CreateChannelAsync();
            await channel.BasicQosAsync(0, (ushort)prefetch, global: false);
            if (declareExpiresSeconds is { } expires)
            {
                await channel.QueueDeclareAsync(
                    queue, durable: true, exclusive: false, autoDelete: false,
                    arguments: expires > 0 ? new Dictionary<string, object?> { ["x-expires"] = (int)Math.Min(expires * 1000L, int.MaxValue) } : null);
            }

            var consumer = create(channel, n);
            await channel.BasicConsumeAsync(queue, autoAck: false, consumerTag: string.Empty, noLocal: false, exclusive: exclusive, arguments: null, consumer: consumer);
            return consumer;
        }));

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(10));
            await connection.DisposeAsync();
        }
    }
}
