using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Bench.Amqp;

/// <summary>A queue's counts from <c>queue.declare-ok</c> (passive); Exists is false for a 404.</summary>
internal readonly record struct QueueStat(bool Exists, uint Messages, uint Consumers);

/// <summary>
/// The tool's side of the broker: declaring, filling, inspecting and deleting the scenario queues, over
/// a few channels of one admin connection. Queues are declared exactly as the gateway declares them
/// (durable, <c>x-expires</c>), so the gateway's own declare is a no-op and not a 406.
/// </summary>
internal sealed class BrokerClient : IAsyncDisposable
{
    /// <summary>Channels per connection this tool opens at most (the broker allows 2047).</summary>
    public const int ChannelsPerConnection = 2000;

    private const int Parallel = 8;
    private readonly ConnectionFactory _factory;
    private readonly IConnection _admin;

    private BrokerClient(ConnectionFactory factory, IConnection admin)
    {
        _factory = factory;
        _admin = admin;
    }

    public static async Task<BrokerClient> ConnectAsync(Uri amqp, CancellationToken cancellationToken = default)
    {
        var factory = new ConnectionFactory
        {
            Uri = amqp,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedHeartbeat = TimeSpan.FromSeconds(30),
        };
        var admin = await factory.CreateConnectionAsync("eventsourced-bench admin", cancellationToken);
        return new BrokerClient(factory, admin);
    }

    public Task<IConnection> ConnectAsync(string name, CancellationToken cancellationToken = default) =>
        _factory.CreateConnectionAsync(name, cancellationToken);

    public Task DeclareAsync(IReadOnlyList<string> queues, int expiresSeconds, CancellationToken cancellationToken = default)
    {
        var arguments = expiresSeconds > 0
            ? new Dictionary<string, object?> { ["x-expires"] = (int)Math.Min(expiresSeconds * 1000L, int.MaxValue) }
            : null;
        return ForEachAsync(queues, (channel, queue, _) => channel.QueueDeclareAsync(
            queue, durable: true, exclusive: false, autoDelete: false, arguments: arguments, cancellationToken: cancellationToken), null, cancellationToken);
    }

    /// <summary>A stream queue for a topic scenario, 1 GB at most (the gateway reads it as it is).</summary>
    public async Task DeclareStreamAsync(string stream, CancellationToken cancellationToken = default)
    {
        await using var channel = await _admin.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(stream, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?>
        {
            ["x-queue-type"] = "stream",
            ["x-max-length-bytes"] = 1_000_000_000L,
        }, cancellationToken: cancellationToken);
    }

    public Task DeleteAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken = default) =>
        ForEachAsync(queues, (channel, queue, _) => channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken), (_, _) => { }, cancellationToken);

    public Task PurgeAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken = default) =>
        ForEachAsync(queues, (channel, queue, _) => channel.QueuePurgeAsync(queue, cancellationToken), null, cancellationToken);

    /// <summary>Ready-message and consumer counts of each queue.</summary>
    public async Task<QueueStat[]> StatsAsync(IReadOnlyList<string> queues, CancellationToken cancellationToken = default)
    {
        var stats = new QueueStat[queues.Count];
        await ForEachAsync(
            queues,
            async (channel, queue, i) =>
            {
                var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
                stats[i] = new QueueStat(true, ok.MessageCount, ok.ConsumerCount);
            },
            (i, _) => stats[i] = new QueueStat(false, 0, 0),
            cancellationToken);
        return stats;
    }

    /// <summary>Publishes <paramref name="messages"/> payloads into each queue, in sequence order per queue.</summary>
    public Task PublishLoadAsync(IReadOnlyList<string> queues, int messages, int size, CancellationToken cancellationToken = default) =>
        ForEachAsync(
            queues,
            async (channel, queue, i) =>
            {
                var properties = new BasicProperties();
                for (var seq = 0; seq < messages; seq++)
                {
                    var body = Payload.Create(i, seq, 0, size);
                    await channel.BasicPublishAsync(string.Empty, queue, mandatory: false, properties, body, cancellationToken);
                }
            },
            null,
            cancellationToken);

    /// <summary>Waits until every queue holds <paramref name="expected"/> ready messages; false at the timeout.</summary>
    public async Task<bool> WaitForMessagesAsync(IReadOnlyList<string> queues, long expected, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var stats = await StatsAsync(queues, cancellationToken);
            if (stats.All(s => s.Messages == expected))
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _admin.CloseAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationInterruptedException or AlreadyClosedException or IOException)
        {
            // Closing anyway.
        }

        await _admin.DisposeAsync();
    }

    /// <summary>
    /// A channel of the admin connection; an open that the client library timed out (a broker busy with thousands of
    /// closing channels after a hold run answered none within its 20 s) is tried twice more before the run fails.
    /// </summary>
    private async Task<IChannel> OpenChannelAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _admin.CreateChannelAsync(cancellationToken: cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && attempt < 3)
            {
                Log.Line($"broker: opening a channel timed out (attempt {attempt} of 3); trying again");
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> for every queue over a few channels, one queue after the other on each.
    /// A channel error (404, 406) kills the channel: <paramref name="onChannelError"/> is told, a new channel
    /// takes over, and without a handler the error is thrown.
    /// </summary>
    private async Task ForEachAsync(
        IReadOnlyList<string> queues, Func<IChannel, string, int, Task> action, Action<int, Exception>? onChannelError, CancellationToken cancellationToken)
    {
        var next = -1;
        var workers = Enumerable.Range(0, Math.Min(Parallel, queues.Count)).Select(async _ =>
        {
            var channel = await OpenChannelAsync(cancellationToken);
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < queues.Count)
                {
                    try
                    {
                        await action(channel, queues[i], i);
                    }
                    catch (OperationInterruptedException ex) when (onChannelError is not null)
                    {
                        onChannelError(i, ex);
                        await channel.DisposeAsync();
                        channel = await OpenChannelAsync(cancellationToken);
                    }
                }
            }
            finally
            {
                if (channel.IsOpen)
                {
                    await channel.CloseAsync(cancellationToken);
                }

                await channel.DisposeAsync();
            }
        });
        await Task.WhenAll(workers);
    }
}
