using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.IntegrationTests.Drills;

/// <summary>
/// A publisher as the README tells one to be: persistent messages, publisher confirms, <c>mandatory</c>, and a
/// message that was returned, nacked or not confirmed in time is published again later (through another node
/// if its connection died). Messages are <c>QUEUE:SEQ</c>, round-robin over the queues at a fixed rate; a queue
/// moves to its next sequence number only once the broker confirmed the current one, so the confirmed messages
/// of a queue are exactly 0 .. <see cref="Confirmed"/>[queue] - 1.
/// </summary>
public sealed class DrillPublisher
{
    private static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(5);

    private readonly IReadOnlyList<string> _urls;
    private readonly IReadOnlyList<string> _queues;
    private readonly long[] _next;
    private long _returned;
    private long _failed;

    public DrillPublisher(IReadOnlyList<string> urls, IReadOnlyList<string> queues)
    {
        _urls = urls;
        _queues = queues;
        _next = new long[queues.Count];
    }

    /// <summary>Per queue, how many messages (0 .. n-1) the broker confirmed.</summary>
    public IReadOnlyList<long> Confirmed => [.. _next];

    public long ConfirmedTotal => _next.Sum();

    /// <summary>Publishes that came back unroutable (and were published again later).</summary>
    public long Returned => Interlocked.Read(ref _returned);

    /// <summary>Publishes nacked, not confirmed in time, or cut off with their connection (and published again later).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public async Task RunAsync(int messagesPerSecond, CancellationToken stop)
    {
        var node = 0;
        var round = TimeSpan.FromSeconds(_queues.Count / (double)messagesPerSecond);
        while (!stop.IsCancellationRequested)
        {
            IConnection? connection = null;
            try
            {
                var factory = new ConnectionFactory
                {
                    Uri = new Uri(_urls[node % _urls.Count]),
                    AutomaticRecoveryEnabled = false,
                    RequestedHeartbeat = TimeSpan.FromSeconds(2),
                    RequestedConnectionTimeout = TimeSpan.FromSeconds(3),
                    ClientProvidedName = "eventsourced drill publisher",
                };
                connection = await factory.CreateConnectionAsync(stop);
                await using var channel = await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), stop);
                var properties = new BasicProperties { Persistent = true };
                while (!stop.IsCancellationRequested)
                {
                    var started = DateTime.UtcNow;
                    for (var q = 0; q < _queues.Count && !stop.IsCancellationRequested; q++)
                    {
                        var seq = Interlocked.Read(ref _next[q]);
                        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                        timeout.CancelAfter(ConfirmTimeout);
                        try
                        {
                            await channel.BasicPublishAsync(
                                string.Empty, _queues[q], mandatory: true, properties, Encoding.UTF8.GetBytes($"{_queues[q]}:{seq}"), timeout.Token);
                            Interlocked.Increment(ref _next[q]);
                        }
                        catch (PublishException ex) when (ex.IsReturn)
                        {
                            Interlocked.Increment(ref _returned);
                        }
                        catch (PublishException)
                        {
                            Interlocked.Increment(ref _failed);
                        }
                        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                        {
                            Interlocked.Increment(ref _failed);
                            throw new TimeoutException("no confirm in time");
                        }
                    }

                    var rest = round - (DateTime.UtcNow - started);
                    if (rest > TimeSpan.Zero)
                    {
                        await Task.Delay(rest, stop);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException
                or IOException or TimeoutException or System.Net.Sockets.SocketException)
            {
                // The node is down or stopped answering: try the next one.
                Interlocked.Increment(ref _failed);
                node++;
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                if (connection is not null)
                {
                    try
                    {
                        await connection.CloseAsync(TimeSpan.FromSeconds(2));
                    }
                    catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or IOException or TimeoutException)
                    {
                    }

                    await connection.DisposeAsync();
                }
            }
        }
    }
}
