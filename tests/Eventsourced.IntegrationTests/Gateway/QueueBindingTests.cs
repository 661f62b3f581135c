using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>queue.bind</c>: each client's queue bound to exchanges when it subscribes, so that services publish to a
/// user's routing key or to everyone, follow and unfollow with plain AMQP, and the bindings go with the queue.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class QueueBindingTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly string _users = broker.UniqueQueueName("users");
    private readonly string _broadcast = broker.UniqueQueueName("broadcast");
    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(QueueBindingTests));

    public async Task DisposeAsync()
    {
        await _amqp.DeleteExchangeAsync(_users);
        await _amqp.DeleteExchangeAsync(_broadcast);
        await _amqp.DisposeAsync();
    }

    [Fact]
    public async Task PrivateAndBroadcast_ReachTheRightQueues_InOrderAndAcknowledged()
    {
        await using var gateway = await StartAsync($"{_users}:topic:user.${{query:id}}", $"{_broadcast}:fanout");
        var alice = broker.UniqueQueueName("alice");
        var bob = broker.UniqueQueueName("bob");
        await using var aliceStream = await gateway.SubscribeAsync($"/?id={alice}");
        await using var bobStream = await gateway.SubscribeAsync($"/?id={bob}");
        Assert.Equal(HttpStatusCode.OK, aliceStream.Status);

        for (var i = 0; i < 20; i++)
        {
            await _amqp.PublishToExchangeAsync(_users, $"user.{alice}", $"to alice {i}", mandatory: true);
        }

        await _amqp.PublishToExchangeAsync(_broadcast, "", "to everyone", mandatory: true);
        await _amqp.PublishToExchangeAsync(_users, $"user.{bob}", "to bob", mandatory: true);

        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => $"to alice {i}"), "to everyone"], await aliceStream.ReadEventsAsync(21, Timeout));
        Assert.Equal(["to everyone", "to bob"], await bobStream.ReadEventsAsync(2, Timeout));
        await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(alice))?.Messages == 0, Timeout, "alice's messages acknowledged");
    }

    [Fact]
    public async Task FollowAndUnfollow_WithPlainAmqp_StatusUpdatesReachFollowersOnly()
    {
        await using var gateway = await StartAsync($"{_users}:topic:user.${{query:id}}");
        var follower = broker.UniqueQueueName("follower");
        var author = broker.UniqueQueueName("author");
        await using var stream = await gateway.SubscribeAsync($"/?id={follower}");
        Assert.Equal(HttpStatusCode.OK, stream.Status);

        // follow: the follower's queue also takes the author's routing key.
        await _amqp.BindQueueAsync(follower, _users, $"user.{author}");
        await _amqp.PublishToExchangeAsync(_users, $"user.{author}", "status 1", mandatory: true);
        Assert.Equal(["status 1"], await stream.ReadEventsAsync(1, Timeout));

        // unfollow.
        await using (var channel = await _amqp.Connection.CreateChannelAsync())
        {
            await channel.QueueUnbindAsync(follower, _users, $"user.{author}");
        }

        await Assert.ThrowsAsync<PublishReturnException>(() => _amqp.PublishToExchangeAsync(_users, $"user.{author}", "status 2", mandatory: true));
        await _amqp.PublishToExchangeAsync(_users, $"user.{follower}", "private", mandatory: true);
        Assert.Equal(["status 1", "private"], await stream.ReadEventsAsync(2, Timeout));
    }

    [Fact]
    public async Task QueueExpires_ItsBindingsGoWithIt()
    {
        await using var gateway = await StartAsync([$"{_users}:topic:user.${{query:id}}"], o => o.Queue.ExpiresSeconds = 1);
        var queue = broker.UniqueQueueName("expiring");
        await using (var stream = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            await _amqp.PublishToExchangeAsync(_users, $"user.{queue}", "while here", mandatory: true);
            Assert.Equal(["while here"], await stream.ReadEventsAsync(1, Timeout));
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is null, Timeout, "the queue expired", TimeSpan.FromMilliseconds(500));

        Assert.DoesNotContain(await BindingsAsync(_users), b => b == $"{queue} user.{queue}");
        await Assert.ThrowsAsync<PublishReturnException>(() => _amqp.PublishToExchangeAsync(_users, $"user.{queue}", "nobody", mandatory: true));
    }

    [Fact]
    public async Task EntryRemovedFromQueueBind_ItsBindingsStayOnQueuesThatExist()
    {
        // The README tells operators so: a gateway cannot list a queue's bindings over AMQP 0-9-1, so a restart without
        // an entry (or with another routing key) leaves what the old entry bound, for as long as the queue lives.
        var queue = broker.UniqueQueueName("rebound");
        await using (var before = await StartAsync($"{_broadcast}:fanout"))
        {
            await using var stream = await before.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.OK, stream.Status);
        }

        await using var after = await StartAsync($"{_users}:topic:user.${{query:id}}");
        await using var again = await after.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
        await _amqp.PublishToExchangeAsync(_broadcast, "", "under the old entry", mandatory: true);
        Assert.Equal(["under the old entry"], await again.ReadEventsAsync(1, Timeout));
        Assert.Contains($"{queue} ", await BindingsAsync(_broadcast));
    }

    [Fact]
    public async Task ExistingExchangeOfAnotherType_IsBoundAsItIs()
    {
        await _amqp.DeclareExchangeAsync(_users, ExchangeType.Direct);
        await using var gateway = await StartAsync($"{_users}:topic:user.${{query:id}}");
        var queue = broker.UniqueQueueName("direct");

        await using var stream = await gateway.SubscribeAsync($"/?id={queue}");
        await _amqp.PublishToExchangeAsync(_users, $"user.{queue}", "direct", mandatory: true);

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal(["direct"], await stream.ReadEventsAsync(1, Timeout));
    }

    [Fact]
    public async Task WildcardFromTheRequest_ForADirectBindingOfATopicExchange_Is400()
    {
        // queue.bind says direct, where '#' is a plain character; but the exchange exists as a topic exchange (another
        // service declared it), and is bound to as it is: key=# would bind user.#, every user's private messages.
        await _amqp.DeclareExchangeAsync(_users, ExchangeType.Topic);
        await using var gateway = await StartAsync($"{_users}:direct:user.${{query:key}}");
        await using var viaAmq = await StartAsync("amq.topic:direct:user.${query:key}");
        var victim = broker.UniqueQueueName("victim");
        var attacker = broker.UniqueQueueName("attacker");

        await using var victimStream = await gateway.SubscribeAsync($"/?id={victim}&key={victim}");
        await using var wildcard = await gateway.SubscribeAsync($"/?id={attacker}&key=%23");
        await using var amqTopic = await viaAmq.SubscribeAsync($"/?id={attacker}-amq&key=x.*");
        await _amqp.PublishToExchangeAsync(_users, $"user.{victim}", "private", mandatory: true);

        Assert.Equal(HttpStatusCode.OK, victimStream.Status);
        Assert.Equal(["private"], await victimStream.ReadEventsAsync(1, Timeout));
        Assert.Equal(HttpStatusCode.BadRequest, wildcard.Status);
        Assert.Equal(
            $"query parameter 'key' must not contain '#' (a wildcard of the topic exchange it binds to): exchange '{_users}' is not the direct exchange queue.bind says, and may be a topic exchange",
            wildcard.Response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(HttpStatusCode.BadRequest, amqTopic.Status);
        Assert.Equal([$"{victim} user.{victim}"], await BindingsAsync(_users));
        await Wait.UntilAsync(() => gateway.Pool.Slots.Sum(s => s.Leases) == 1 && viaAmq.Pool.Slots.Sum(s => s.Leases) == 0, Timeout, "the refused subscribers' channels released");
        await _amqp.DeleteQueueAsync(attacker);
        await _amqp.DeleteQueueAsync(attacker + "-amq");
    }

    [Theory]
    [InlineData(ExchangeType.Fanout)]
    [InlineData(ExchangeType.Headers)]
    public async Task ExchangeThatIgnoresRoutingKeys_ForADirectOrTopicBinding_Is409_NotEveryonesMessages(string actual)
    {
        // queue.bind says direct (user.ID), but the exchange exists as a fanout or headers exchange (a headers binding
        // without arguments matches every message): bound as it is, every client's queue got every user's private messages.
        await _amqp.DeclareExchangeAsync(_users, actual);
        await using var gateway = await StartAsync($"{_users}:direct:user.${{query:id}}");
        var victim = broker.UniqueQueueName("victim");
        var attacker = broker.UniqueQueueName("attacker");

        await using var victimStream = await gateway.SubscribeAsync($"/?id={victim}");
        await using var attackerStream = await gateway.SubscribeAsync($"/?id={attacker}");

        Assert.Equal(HttpStatusCode.Conflict, victimStream.Status);
        Assert.Equal(HttpStatusCode.Conflict, attackerStream.Status);
        Assert.Equal(
            $"exchange '{_users}' is a {actual} exchange, not the direct exchange queue.bind says: it ignores routing keys, and the queue would get the messages meant for other clients",
            attackerStream.Response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Empty(await BindingsAsync(_users));
        await Wait.UntilAsync(() => gateway.Pool.Slots.Sum(s => s.Leases) == 0, Timeout, "the refused subscribers' channels released");

        // A key of literal text is every client's alike: bound as it is, each queue gets what the others get, as before.
        await using var literal = await StartAsync($"{_users}:direct:everyone");
        var reader = broker.UniqueQueueName("reader");
        await using var readerStream = await literal.SubscribeAsync($"/?id={reader}");
        await _amqp.PublishToExchangeAsync(_users, "anything", "to all", mandatory: true);
        Assert.Equal(HttpStatusCode.OK, readerStream.Status);
        Assert.Equal(["to all"], await readerStream.ReadEventsAsync(1, Timeout));
        await _amqp.DeleteQueueAsync(reader);
        await _amqp.DeleteQueueAsync(victim);
        await _amqp.DeleteQueueAsync(attacker);
    }

    [Fact]
    public async Task BrokersOwnExchange_IsBoundWithoutDeclaring()
    {
        await using var gateway = await StartAsync("amq.topic:topic:${query:id}.#");
        var queue = broker.UniqueQueueName("amq");

        await using var stream = await gateway.SubscribeAsync($"/?id={queue}");
        await _amqp.PublishToExchangeAsync("amq.topic", $"{queue}.news", "from amq.topic", mandatory: true);

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal(["from amq.topic"], await stream.ReadEventsAsync(1, Timeout));
    }

    [Fact]
    public async Task MissingPlaceholderValue_Is400_MissingAmqExchange_Is503()
    {
        await using var gateway = await StartAsync($"{_users}:topic:user.${{cookie:sid}}");
        await using var missing = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("missing")}");
        await using var noExchange = await StartAsync("amq.nope:topic:x");
        await using var refused = await noExchange.SubscribeAsync($"/?id={broker.UniqueQueueName("refused")}");

        Assert.Equal(HttpStatusCode.BadRequest, missing.Status);
        Assert.Equal("missing cookie 'sid'", missing.Response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        // The broker's words (404 NOT_FOUND - no exchange 'amq.nope') are for the log, as for every refusal of the broker.
        Assert.Equal("broker refused the subscription", refused.Response.Headers.GetValues("X-Status-Reason").Single());
        await Wait.UntilAsync(() => noExchange.Pool.Slots.Sum(s => s.Leases) == 0, Timeout, "the refused subscriber's channel released");
    }

    [Fact]
    public async Task SeveralPagesOfOneUser_EachAQueueOfItsOwn_BoundToTheUsersKey_AllGetEveryMessage()
    {
        // The README's recipe ("Several tabs or devices per user"): one queue per page, all bound to the user's key.
        var user = broker.UniqueQueueName("user");
        var prefix = broker.UniqueQueueName("inbox");
        await using var gateway = await StartAsync([$"{_users}:topic:user.${{claim:sub}}"], o =>
        {
            o.Queue.Pattern = prefix + ".${claim:sub}.${query:tab}";
            o.Auth.Jwt.Secret = TestTokens.Secret;
        });
        var token = TestTokens.Hs256(TestTokens.Claims(user));
        await using var first = await gateway.SubscribeAsync($"/?tab=a&access_token={token}");
        await using var second = await gateway.SubscribeAsync($"/?tab=b&access_token={token}");
        await using var sameTab = await gateway.SubscribeAsync($"/?tab=a&access_token={token}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, sameTab.Status);

        await _amqp.PublishToExchangeAsync(_users, $"user.{user}", "to every page", mandatory: true);

        Assert.Equal(["to every page"], await first.ReadEventsAsync(1, Timeout));
        Assert.Equal(["to every page"], await second.ReadEventsAsync(1, Timeout));
        Assert.Equal([$"{prefix}.{user}.a {prefix}.{user}.b"], [string.Join(" ", (await BindingsAsync(_users)).Select(b => b.Split(' ')[0]).Order())]);
    }

    private Task<GatewayServer> StartAsync(params string[] bindings) => StartAsync(bindings, null);

    private Task<GatewayServer> StartAsync(string[] bindings, Action<Eventsourced.Configuration.GatewayOptions>? configure) =>
        GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Bind = [.. bindings];
            configure?.Invoke(o);
        });

    private async Task<IReadOnlyList<string>> BindingsAsync(string exchange) =>
        (await broker.Rabbitmqctl.ListAsync("list_bindings", ["source_name", "destination_name", "routing_key"]))
            .Where(row => row.GetProperty("source_name").GetString() == exchange)
            .Select(row => $"{row.GetProperty("destination_name").GetString()} {row.GetProperty("routing_key").GetString()}")
            .ToList();
}
