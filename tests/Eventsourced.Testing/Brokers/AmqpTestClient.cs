using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Testing.Brokers;

/// <summary>A message as a test consumer received it (body copied out of the client's pooled buffer).</summary>
public sealed record ReceivedMessage(byte[] Body, IReadOnlyBasicProperties Properties, bool Redelivered)
{
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// The tests' side of the broker: one AMQP connection, named after the test, with helpers to
/// declare, publish to, inspect and delete queues. Publishes wait for the broker's confirm and
/// fail when the queue does not exist (mandatory). No automatic recovery: after a broker restart,
/// connect a new client.
/// </summary>
public sealed class AmqpTestClient : IAsyncDisposable
{
    private readonly SemaphoreSlim _publishLock = new(1, 1);
    private IChannel? _publishChannel;

    private AmqpTestClient(IConnection connection, string connectionName)
    {
        Connection = connection;
        ConnectionName = connectionName;
    }

    public IConnection Connection { get; }

    /// <summary>The client-provided connection name, as <c>rabbitmqctl list_connections</c> and the management UI show it.</summary>
    public string ConnectionName { get; }

    /// <summary>
    /// Connects to <paramref name="amqpUrl"/>, retrying until <paramref name="timeout"/> (default 30 s) passes,
    /// so a broker that is still starting or restarting is waited for. Each attempt is bounded too (a paused
    /// broker accepts the TCP connection and never answers the handshake).
    /// </summary>
    /// <exception cref="TimeoutException">No connection within the timeout; the last error is the inner exception.</exception>
    public static async Task<AmqpTestClient> ConnectAsync(
        string amqpUrl,
        string connectionName,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(amqpUrl);
        var factory = new ConnectionFactory
        {
            Uri = new Uri(amqpUrl),
            ClientProvidedName = connectionName,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
            RequestedHeartbeat = TimeSpan.FromSeconds(30),
        };
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var stopwatch = Stopwatch.StartNew();
        Exception? last = null;
        var attempts = 0;
        while (stopwatch.Elapsed < limit || attempts == 0)
        {
            attempts++;
            var attemptLimit = TimeSpan.FromSeconds(Math.Clamp((limit - stopwatch.Elapsed).TotalSeconds, 1, 15));
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(attemptLimit);
            try
            {
                var connection = await factory.CreateConnectionAsync(attempt.Token);
                return new AmqpTestClient(connection, connectionName);
            }
            catch (Exception ex) when (ex is BrokerUnreachableException or OperationInterruptedException or IOException
                or System.Net.Sockets.SocketException or TimeoutException)
            {
                last = ex;
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                last = new TimeoutException($"no answer to the AMQP handshake within {attemptLimit.TotalSeconds:0.#} s", ex);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
        throw new TimeoutException(
            $"Could not connect to {Redact(amqpUrl)} as '{connectionName}' within {limit.TotalSeconds:0} s ({attempts} attempts): "
            + $"{last?.GetBaseException().Message}", last);
    }

    /// <summary>Declares a classic, non-durable, non-exclusive queue; <paramref name="expiresSeconds"/> sets <c>x-expires</c>.</summary>
    /// <remarks>Redeclaring an existing queue with other arguments fails with 406 PRECONDITION_FAILED.</remarks>
    public async Task DeclareQueueAsync(
        string name,
        int? expiresSeconds = null,
        bool durable = false,
        IDictionary<string, object?>? arguments = null,
        CancellationToken cancellationToken = default)
    {
        var all = arguments is null ? new Dictionary<string, object?>() : new Dictionary<string, object?>(arguments);
        if (expiresSeconds is { } seconds)
        {
            all["x-expires"] = checked(seconds * 1000);
        }
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(name, durable, exclusive: false, autoDelete: false, all, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Deletes a queue (with its messages and consumers); no error when it does not exist.</summary>
    public async Task DeleteQueueAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Whether the queue exists (passive declare).</summary>
    /// <remarks>
    /// Like <see cref="ConsumerCountAsync"/> and <see cref="MessageCountAsync"/>, this counts as use of the
    /// queue: it restarts an <c>x-expires</c> countdown. To watch a queue expire, poll
    /// <see cref="RabbitmqctlCommands.FindQueueAsync"/> instead (or less often than the expiry).
    /// </remarks>
    public async Task<bool> QueueExistsAsync(string name, CancellationToken cancellationToken = default) =>
        await PassiveDeclareAsync(name, cancellationToken) is not null;

    /// <summary>Consumers on the queue, or null when the queue does not exist. Renews <c>x-expires</c> (see <see cref="QueueExistsAsync"/>).</summary>
    public async Task<uint?> ConsumerCountAsync(string name, CancellationToken cancellationToken = default) =>
        (await PassiveDeclareAsync(name, cancellationToken))?.ConsumerCount;

    /// <summary>
    /// Waits until <paramref name="name"/> has <paramref name="count"/> consumers (a gateway took it, or let go of it), for
    /// at most <paramref name="timeout"/>; a test failure naming <paramref name="what"/> after that. Renews <c>x-expires</c>.
    /// </summary>
    public Task UntilConsumersAsync(string name, uint count, TimeSpan timeout, string what) =>
        Wait.UntilAsync(async () => await ConsumerCountAsync(name) == count, timeout, what);

    /// <summary>Ready messages in the queue (not those delivered and unacknowledged), or null when the queue does not exist. Renews <c>x-expires</c>.</summary>
    public async Task<uint?> MessageCountAsync(string name, CancellationToken cancellationToken = default) =>
        (await PassiveDeclareAsync(name, cancellationToken))?.MessageCount;

    /// <summary>Publishes UTF-8 text to <paramref name="queue"/> through the default exchange.</summary>
    public Task PublishAsync(
        string queue,
        string body,
        DateTimeOffset? timestamp = null,
        BasicProperties? properties = null,
        CancellationToken cancellationToken = default) =>
        PublishAsync(queue, Encoding.UTF8.GetBytes(body), timestamp, properties, cancellationToken);

    /// <summary>
    /// Publishes to <paramref name="queue"/> through the default exchange and waits for the broker's confirm.
    /// <paramref name="timestamp"/> sets the AMQP timestamp property (whole seconds).
    /// </summary>
    /// <exception cref="PublishException">The queue does not exist (the mandatory message came back) or the broker nacked it.</exception>
    public async Task PublishAsync(
        string queue,
        ReadOnlyMemory<byte> body,
        DateTimeOffset? timestamp = null,
        BasicProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        var props = properties ?? new BasicProperties();
        if (timestamp is { } time)
        {
            props.Timestamp = new AmqpTimestamp(time.ToUnixTimeSeconds());
        }
        await _publishLock.WaitAsync(cancellationToken);
        try
        {
            if (_publishChannel is not { IsOpen: true })
            {
                if (_publishChannel is not null)
                {
                    await _publishChannel.DisposeAsync();
                }
                _publishChannel = await Connection.CreateChannelAsync(
                    new CreateChannelOptions(
                        publisherConfirmationsEnabled: true,
                        publisherConfirmationTrackingEnabled: true,
                        consumerDispatchConcurrency: null),
                    cancellationToken);
            }
            await _publishChannel.BasicPublishAsync("", queue, mandatory: true, props, body, cancellationToken);
        }
        finally
        {
            _publishLock.Release();
        }
    }

    /// <summary>
    /// Publishes UTF-8 text to <paramref name="exchange"/> with <paramref name="routingKey"/> and waits for the broker's
    /// confirm. With <paramref name="mandatory"/>, a message no queue takes fails with <see cref="PublishException"/>.
    /// </summary>
    public async Task PublishToExchangeAsync(
        string exchange, string routingKey, string body, bool mandatory = false, BasicProperties? properties = null, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true, consumerDispatchConcurrency: null),
            cancellationToken);
        await channel.BasicPublishAsync(exchange, routingKey, mandatory, properties ?? new BasicProperties(), Encoding.UTF8.GetBytes(body), cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Declares an exchange (durable unless said otherwise).</summary>
    public async Task DeclareExchangeAsync(string exchange, string type, bool durable = true, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.ExchangeDeclareAsync(exchange, type, durable, autoDelete: false, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Deletes an exchange; no error when it does not exist.</summary>
    public async Task DeleteExchangeAsync(string exchange, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.ExchangeDeleteAsync(exchange, ifUnused: false, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>Binds <paramref name="queue"/> to <paramref name="exchange"/> with <paramref name="routingKey"/>.</summary>
    public async Task BindQueueAsync(string queue, string exchange, string routingKey, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueBindAsync(queue, exchange, routingKey, cancellationToken: cancellationToken);
        await channel.CloseAsync(cancellationToken);
    }

    /// <summary>
    /// Consumes (with acks) until <paramref name="count"/> messages arrived from <paramref name="queue"/>, then cancels.
    /// </summary>
    /// <exception cref="TimeoutException">Fewer messages within <paramref name="timeout"/>; says how many arrived.</exception>
    public async Task<IReadOnlyList<ReceivedMessage>> ReceiveAsync(
        string queue,
        int count,
        TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        var received = Channel.CreateUnbounded<ReceivedMessage>();
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.BasicQosAsync(0, (ushort)Math.Clamp(count, 1, 1000), global: false, cancellationToken);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, e) =>
        {
            // Acknowledged before the caller has it: once it has its messages this channel closes, and an acknowledgement
            // not yet sent then put the last message back in the queue (a count of the queue right after saw it again).
            var message = new ReceivedMessage(e.Body.ToArray(), e.BasicProperties, e.Redelivered);
            await channel.BasicAckAsync(e.DeliveryTag, multiple: false, e.CancellationToken);
            received.Writer.TryWrite(message);
        };
        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);

        var messages = new List<ReceivedMessage>(count);
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            while (messages.Count < count)
            {
                messages.Add(await received.Reader.ReadAsync(timeoutSource.Token));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"Received {messages.Count} of {count} messages from queue '{queue}' within {timeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            try
            {
                if (channel.IsOpen)
                {
                    await channel.BasicCancelAsync(tag, noWait: false, CancellationToken.None);
                    await channel.CloseAsync(CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException)
            {
                // The channel or broker went away meanwhile; the result (or error) above stands.
            }
        }
        return messages;
    }

    /// <summary>Takes one message with <c>basic.get</c> (auto-ack), or null when the queue is empty.</summary>
    public async Task<ReceivedMessage?> GetAsync(string queue, CancellationToken cancellationToken = default)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var result = await channel.BasicGetAsync(queue, autoAck: true, cancellationToken);
        await channel.CloseAsync(cancellationToken);
        return result is null ? null : new ReceivedMessage(result.Body.ToArray(), result.BasicProperties, result.Redelivered);
    }

    public async ValueTask DisposeAsync()
    {
        if (_publishChannel is not null)
        {
            await _publishChannel.DisposeAsync();
        }
        try
        {
            if (Connection.IsOpen)
            {
                await Connection.CloseAsync(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or IOException or TimeoutException)
        {
            // The broker went away first (stopped or killed by the test).
        }
        await Connection.DisposeAsync();
        _publishLock.Dispose();
    }

    // Passive declare on a fresh channel: a 404 closes the channel, so it must not be shared.
    private async Task<QueueDeclareOk?> PassiveDeclareAsync(string name, CancellationToken cancellationToken)
    {
        var channel = await Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(name, cancellationToken);
            await channel.CloseAsync(cancellationToken);
            return ok;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == Constants.NotFound)
        {
            return null;
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    private static string Redact(string url)
    {
        try
        {
            var builder = new UriBuilder(url);
            if (!string.IsNullOrEmpty(builder.Password))
            {
                builder.Password = "***";
            }
            return builder.Uri.ToString();
        }
        catch (UriFormatException)
        {
            return "(an invalid AMQP URL)";
        }
    }
}
