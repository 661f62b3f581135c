#!/usr/bin/env -S dotnet run
// Private messages, broadcasts, follow and unfollow through exchanges, with RabbitMQ.Client 7.x: a .NET 10
// file-based app. The gateway binds each client's queue when it subscribes, as configured:
//
//   queue:
//     bind:
//       - users:topic:user.${query:id}      # the browser's ?id=42 gets what is sent to routing key user.42
//       - broadcast:fanout                  # every client gets what is sent to broadcast
//
//   dotnet run users.cs -- send USER 'text'          a private message to USER alone (routing key user.USER)
//   dotnet run users.cs -- broadcast 'text'          a message to every client
//   dotnet run users.cs -- status AUTHOR 'text'      a status update to AUTHOR's followers (routing key status.AUTHOR)
//   dotnet run users.cs -- follow FOLLOWER AUTHOR    FOLLOWER's queue also gets AUTHOR's status updates
//   dotnet run users.cs -- unfollow FOLLOWER AUTHOR
//
// Status updates have a routing key of their own: a follower bound to user.AUTHOR would read AUTHOR's private
// messages too.
//
// AMQP_URL names the broker; USERS_EXCHANGE and BROADCAST_EXCHANGE the exchanges (users, broadcast). The
// queue names are the ones the gateway derives from queue.pattern (${query:id} by default). A follow lasts
// as long as the follower's queue: the broker drops a queue's bindings with it (queue.expires after the
// follower's last visit). In a service of your own, the part to copy is the Users class below.
#:package RabbitMQ.Client@7.2.2
#:property PublishAot=false

using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

var url = Environment.GetEnvironmentVariable("AMQP_URL") ?? "amqp://guest:guest@localhost:5672/";
var users = new Users(
    Environment.GetEnvironmentVariable("USERS_EXCHANGE") ?? "users",
    Environment.GetEnvironmentVariable("BROADCAST_EXCHANGE") ?? "broadcast");
var factory = new ConnectionFactory { Uri = new Uri(url), ClientProvidedName = "eventsourced example users" };
await using var connection = await factory.CreateConnectionAsync();
try
{
    switch (args)
    {
        case ["send", var user, var text]:
            await users.SendAsync(connection, user, text);
            Console.WriteLine($"sent to {user}");
            return 0;
        case ["status", var author, var text]:
            await users.StatusAsync(connection, author, text);
            Console.WriteLine($"sent to the followers of {author}");
            return 0;
        case ["broadcast", var text]:
            await users.BroadcastAsync(connection, text);
            Console.WriteLine("broadcast");
            return 0;
        case ["follow", var follower, var author]:
            await users.FollowAsync(connection, follower, author);
            Console.WriteLine($"{follower} follows {author}");
            return 0;
        case ["unfollow", var follower, var author]:
            await users.UnfollowAsync(connection, follower, author);
            Console.WriteLine($"{follower} no longer follows {author}");
            return 0;
    }
}
catch (PublishReturnException)
{
    Console.Error.WriteLine("nobody receives it: no queue is bound (no subscriber yet, or its queue expired)");
    return 69;
}
catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == Constants.NotFound)
{
    // 404 names what is missing: the exchange (no client has subscribed through a gateway whose queue.bind names
    // it) or, for follow and unfollow, the follower's queue.
    var missing = ex.ShutdownReason.ReplyText;
    Console.Error.WriteLine(missing.Contains("no exchange", StringComparison.Ordinal)
        ? $"{missing}: the gateway declares it when a client subscribes with queue.bind naming it; no client has yet (or USERS_EXCHANGE and BROADCAST_EXCHANGE differ from the gateway's queue.bind)"
        : $"{missing}: the follower has never subscribed (or its queue expired)");
    return 69;
}

Console.Error.WriteLine("usage: dotnet run users.cs -- send USER TEXT | broadcast TEXT | status AUTHOR TEXT | follow FOLLOWER AUTHOR | unfollow FOLLOWER AUTHOR");
return 64;

internal sealed class Users(string usersExchange, string broadcastExchange)
{
    /// <summary>To one user alone: the routing key user.USER, which the gateway bound USER's queue with.</summary>
    public Task SendAsync(IConnection connection, string user, string text) => PublishAsync(connection, usersExchange, $"user.{user}", text);

    /// <summary>To AUTHOR's followers: the routing key status.AUTHOR, which their follows bound their queues with.</summary>
    public Task StatusAsync(IConnection connection, string author, string text) => PublishAsync(connection, usersExchange, $"status.{author}", text);

    /// <summary>To every client: the fanout exchange every client's queue is bound to.</summary>
    public Task BroadcastAsync(IConnection connection, string text) => PublishAsync(connection, broadcastExchange, "", text);

    /// <summary>FOLLOWER's queue also takes AUTHOR's status updates (not their private messages): plain AMQP, no gateway involved.</summary>
    public async Task FollowAsync(IConnection connection, string follower, string author)
    {
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueBindAsync(queue: follower, exchange: usersExchange, routingKey: $"status.{author}");
    }

    public async Task UnfollowAsync(IConnection connection, string follower, string author)
    {
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueUnbindAsync(queue: follower, exchange: usersExchange, routingKey: $"status.{author}");
    }

    /// <summary>Confirmed and mandatory: a message no queue takes comes back (PublishReturnException) instead of vanishing.</summary>
    private static async Task PublishAsync(IConnection connection, string exchange, string routingKey, string text)
    {
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "text/plain; charset=utf-8",
            Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
            MessageId = Guid.NewGuid().ToString(), // the same on a redelivery: clients dedupe by it
        };
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, Encoding.UTF8.GetBytes(text));
    }
}
