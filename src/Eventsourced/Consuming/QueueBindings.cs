using System.Collections.Concurrent;
using Eventsourced.Broker;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Consuming;

/// <summary>
/// Binds a subscriber's queue as <c>queue.bind</c> says, each time it subscribes: every exchange declared (which
/// changes nothing when it exists; an <c>amq.</c> exchange, which only the broker may declare, must exist), then the
/// queue bound to it. Binding twice is harmless; the broker removes a queue's bindings with the queue.
/// </summary>
internal static class QueueBindings
{
    private const ushort PreconditionFailed = 406;
    private static readonly ConcurrentDictionary<string, byte> ReportedMismatches = new(StringComparer.Ordinal);

    /// <summary>Declares and binds; returns the channel to go on with (another one when a declare failed and closed the first).</summary>
    /// <exception cref="OperationInterruptedException">The broker refused (a missing <c>amq.</c> exchange, no permission).</exception>
    public static async Task<IChannel> ApplyAsync(
        ChannelLease lease, string queue, IReadOnlyList<ResolvedBinding> bindings, ILogger logger, CancellationToken cancellationToken)
    {
        var channel = lease.Channel;
        foreach (var (exchange, type) in bindings.Select(b => (b.Exchange, b.Type)).Distinct())
        {
            if (exchange.StartsWith("amq.", StringComparison.Ordinal))
            {
                await channel.ExchangeDeclarePassiveAsync(exchange, cancellationToken);
                continue;
            }

            try
            {
                await channel.ExchangeDeclareAsync(exchange, type, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == PreconditionFailed)
            {
                // It exists as another type (or durability): bind to it as it is, as with a queue declared otherwise.
                if (ReportedMismatches.Count < 10_000 && ReportedMismatches.TryAdd(exchange, 0))
                {
                    ConsumingLog.ExchangeDiffers(logger, exchange, ex.ShutdownReason.ReplyText);
                }

                channel = await lease.ReopenAsync(cancellationToken);
            }
        }

        foreach (var binding in bindings)
        {
            await channel.QueueBindAsync(queue, binding.Exchange, binding.RoutingKey, cancellationToken: cancellationToken);
        }

        return channel;
    }
}
