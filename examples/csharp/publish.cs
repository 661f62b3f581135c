#!/usr/bin/env -S dotnet run
// Publish one message to a subscriber's queue with RabbitMQ.Client 7.x: a .NET 10 file-based app.
//
//   dotnet run publish.cs -- QUEUE 'message text'      (AMQP_URL names the broker)
//
// In a service of your own, the part to copy is PublishAsync below: publish to the default exchange
// ("") with the queue name as routing key. The queue is the one the gateway derives from
// queue.pattern: with the default ${query:id}, the browser's ?id=42 reads queue 42.
#:package RabbitMQ.Client@7.2.2
#:property PublishAot=false

using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run publish.cs -- QUEUE MESSAGE  (AMQP_URL names the broker)");
    return 64;
}

var url = Environment.GetEnvironmentVariable("AMQP_URL") ?? "amqp://guest:guest@localhost:5672/";
try
{
    await EventsourcedPublisher.PublishAsync(new Uri(url), queue: args[0], text: args[1]);
}
catch (PublishException ex) when (ex.IsReturn)
{
    Console.Error.WriteLine($"queue {args[0]} does not exist (no subscriber yet, or it expired) or its node is down: message returned; retry later, or declare the queue first");
    return 69;
}

Console.WriteLine($"published to queue {args[0]}");
return 0;

internal static class EventsourcedPublisher
{
    /// <summary>
    /// Publishes <paramref name="text"/> (UTF-8; several lines arrive as one multi-line event) to the queue of
    /// one subscriber and waits until the broker has it. A real service keeps one connection open and
    /// publishes many messages on it; connections are expensive, channels and messages are cheap.
    /// <paramref name="messageId"/> names the message (a new one when null): WebSocket and long-poll clients get it as
    /// <c>message_id</c> and drop a second delivery by it. Publish again with the same id after a failed publish.
    /// </summary>
    public static async Task PublishAsync(Uri broker, string queue, string text, string? messageId = null, CancellationToken cancellationToken = default)
    {
        var factory = new ConnectionFactory { Uri = broker, ClientProvidedName = "eventsourced example publisher" };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        // Publisher confirms: the publish returns once the broker took responsibility for the message.
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);
        var properties = new BasicProperties
        {
            Persistent = true, // survives a broker restart while the browser is away (the queue is durable)
            ContentType = "text/plain; charset=utf-8",
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
            MessageId = messageId ?? Guid.NewGuid().ToString(), // the same on a redelivery: clients dedupe by it
        };
        // mandatory: a queue that does not exist (no subscriber ever came, or it expired) returns the
        // message instead of dropping it silently, and this throws PublishException with IsReturn set.
        await channel.BasicPublishAsync(
            exchange: "", routingKey: queue, mandatory: true, basicProperties: properties,
            body: Encoding.UTF8.GetBytes(text), cancellationToken: cancellationToken);
    }
}
