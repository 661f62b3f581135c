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

    /// <summary>The types of the exchanges RabbitMQ declares itself (no one else may declare an <c>amq.</c> exchange).</summary>
    internal static readonly Dictionary<string, string> BrokerExchangeTypes = new(StringComparer.Ordinal)
    {
        ["amq.direct"] = ExchangeType.Direct,
        ["amq.fanout"] = ExchangeType.Fanout,
        ["amq.topic"] = ExchangeType.Topic,
        ["amq.headers"] = ExchangeType.Headers,
        ["amq.match"] = ExchangeType.Headers,
        ["amq.rabbitmq.trace"] = ExchangeType.Topic,
        ["amq.rabbitmq.log"] = ExchangeType.Topic,
    };

    /// <summary>Declares and binds; returns the channel to go on with (another one when a declare failed and closed the first).</summary>
    /// <exception cref="OperationInterruptedException">The broker refused (a missing <c>amq.</c> exchange, no permission).</exception>
    /// <exception cref="SubscribeException">
    /// A value of the request put a topic exchange's wildcard into the routing key of a direct or fanout binding whose
    /// exchange may be a topic exchange after all (it exists with another type, or is a broker's exchange of another
    /// type): bound, <c>?id=#</c> would take every routing key's messages.
    /// </exception>
    public static async Task<IChannel> ApplyAsync(
        ChannelLease lease, string queue, IReadOnlyList<ResolvedBinding> bindings, ILogger logger, CancellationToken cancellationToken)
    {
        var channel = lease.Channel;
        HashSet<string>? otherType = null;
        Dictionary<string, string>? ignoresKeys = null;
        foreach (var (exchange, type) in bindings.Select(b => (b.Exchange, b.Type)).Distinct())
        {
            if (exchange.StartsWith("amq.", StringComparison.Ordinal))
            {
                await channel.ExchangeDeclarePassiveAsync(exchange, cancellationToken);
                if (!BrokerExchangeTypes.TryGetValue(exchange, out var actual) || actual != type)
                {
                    (otherType ??= new(StringComparer.Ordinal)).Add(exchange);
                    NoteIgnoredKeys(ref ignoresKeys, bindings, exchange, type, actual);
                }

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

                (otherType ??= new(StringComparer.Ordinal)).Add(exchange);
                NoteIgnoredKeys(ref ignoresKeys, bindings, exchange, type, CurrentType(ex.ShutdownReason.ReplyText));
                channel = await lease.ReopenAsync(cancellationToken);
            }
        }

        if (ignoresKeys?.FirstOrDefault() is { Key: { } ignoring, Value: { } actualType })
        {
            // A fanout or headers exchange (a headers binding without arguments matches every message) ignores the routing
            // key: bound, this client's queue would get every message sent to it, everyone else's private ones too.
            var configured = bindings.First(b => b.Exchange == ignoring && b.KeyPerRequest).Type;
            throw new SubscribeException(
                SubscribeFailure.Conflict,
                $"exchange '{ignoring}' is a {actualType} exchange, not the {configured} exchange queue.bind says: it ignores routing keys, and the queue would get the messages meant for other clients");
        }

        foreach (var binding in bindings)
        {
            if (binding.RequestWildcard is { } problem && otherType?.Contains(binding.Exchange) == true)
            {
                throw new SubscribeException(
                    SubscribeFailure.BadRequest,
                    $"{problem}: exchange '{binding.Exchange}' is not the {binding.Type} exchange queue.bind says, and may be a topic exchange");
            }

            await channel.QueueBindAsync(queue, binding.Exchange, binding.RoutingKey, cancellationToken: cancellationToken);
        }

        return channel;
    }

    /// <summary>
    /// Notes <paramref name="exchange"/> when it is of a type that routes without looking at routing keys (fanout, headers)
    /// while queue.bind takes it for one that does (direct, topic).
    /// </summary>
    private static void NoteIgnoredKeys(ref Dictionary<string, string>? ignoresKeys, IReadOnlyList<ResolvedBinding> bindings, string exchange, string configured, string? actual)
    {
        // A key of literal text is every client's: whatever the exchange does with it, each queue gets what the others get.
        if (IgnoresRoutingKeys(configured, actual)
            && bindings.Any(b => b.Exchange == exchange && b.Type == configured && b.KeyPerRequest))
        {
            (ignoresKeys ??= new(StringComparer.Ordinal))[exchange] = actual;
        }
    }

    /// <summary>
    /// Whether an exchange of type <paramref name="actual"/> (fanout, headers: a headers binding without arguments matches
    /// every message) routes without the routing keys that queue.bind's <paramref name="configured"/> type (direct, topic) routes by.
    /// </summary>
    internal static bool IgnoresRoutingKeys(string configured, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? actual) =>
        configured is ExchangeType.Direct or ExchangeType.Topic && actual is ExchangeType.Fanout or ExchangeType.Headers;

    /// <summary>
    /// The type an exchange has, from the broker's refusal of a declare with another (<c>inequivalent arg 'type' for exchange
    /// 'x' in vhost '/': received 'direct' but current is 'fanout'</c>); null when the refusal is about something else.
    /// </summary>
    internal static string? CurrentType(string? replyText)
    {
        const string Current = "but current is '";
        if (replyText is null || !replyText.Contains("inequivalent arg 'type'", StringComparison.Ordinal))
        {
            return null;
        }

        var at = replyText.LastIndexOf(Current, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var start = at + Current.Length;
        var end = replyText.IndexOf('\'', start);
        return end > start ? replyText[start..end] : null;
    }
}
