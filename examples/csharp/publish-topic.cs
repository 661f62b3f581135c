#!/usr/bin/env -S dotnet run
// Publish one event to a topic with RabbitMQ.Client 7.x: a .NET 10 file-based app.
//
//   dotnet run publish-topic.cs -- TOPIC 'event text' [TYPE]      (AMQP_URL names the broker)
//
// A topic is a RabbitMQ stream queue named after it with the gateway's topics.prefix in front (topic. by
// default; TOPICS_PREFIX here, set it when the gateway's differs): /topics/prices reads the stream topic.prices;
// every subscriber of /topics/TOPIC gets every event, each with its stream offset as id, and a browser that
// reconnects resumes after the last one it had. TYPE becomes the AMQP type property, which the gateway sends
// as the SSE event type when sse.event is on (addEventListener(TYPE, ...) in the browser).
// In a service of your own, the part to copy is PublishAsync below.
#:package RabbitMQ.Client@7.2.2
#:property PublishAot=false

using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: dotnet run publish-topic.cs -- TOPIC MESSAGE [TYPE]  (AMQP_URL names the broker, TOPICS_PREFIX the gateway's topics.prefix)");
    return 64;
}

var url = Environment.GetEnvironmentVariable("AMQP_URL") ?? "amqp://guest:guest@localhost:5672/";
var stream = (Environment.GetEnvironmentVariable("TOPICS_PREFIX") ?? "topic.") + args[0];
await TopicPublisher.PublishAsync(new Uri(url), stream, text: args[1], type: args.Length > 2 ? args[2] : null);
Console.WriteLine($"published to topic {args[0]} (stream {stream})");
return 0;

internal static class TopicPublisher
{
    /// <summary>
    /// Publishes <paramref name="text"/> to a topic's <paramref name="stream"/> and waits until the broker has
    /// it. The stream is declared first if it does not exist yet (the gateway declares it too, for its first
    /// subscriber), with the retention of the gateway's defaults (topics.max_age, topics.max_length_bytes): a
    /// topic keeps its history from the first event on, even before anyone subscribed.
    /// </summary>
    public static async Task PublishAsync(Uri broker, string stream, string text, string? type = null, CancellationToken cancellationToken = default)
    {
        var factory = new ConnectionFactory { Uri = broker, ClientProvidedName = "eventsourced example topic publisher" };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        await EnsureStreamAsync(connection, stream, cancellationToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "text/plain; charset=utf-8",
            Type = type,
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
        };
        // The default exchange routes by queue name.
        await channel.BasicPublishAsync(
            exchange: "", routingKey: stream, mandatory: true, basicProperties: properties,
            body: Encoding.UTF8.GetBytes(text), cancellationToken: cancellationToken);
    }

    private static async Task EnsureStreamAsync(IConnection connection, string stream, CancellationToken cancellationToken)
    {
        // A passive declare fails (and closes its channel) when the stream does not exist: use a channel of its own.
        await using (var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken))
        {
            try
            {
                await probe.QueueDeclarePassiveAsync(stream, cancellationToken);
                return;
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == Constants.NotFound)
            {
            }
        }

        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(stream, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?>
        {
            ["x-queue-type"] = "stream",
            ["x-max-age"] = "1D",
            ["x-max-length-bytes"] = 1_000_000_000L,
        }, cancellationToken: cancellationToken);
    }
}
