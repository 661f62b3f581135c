using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.IntegrationTests.Observability;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A broker user with limits (<c>rabbitmqctl set_user_limits USER '{"max-channels": N}'</c>, <c>max-connections</c>): RabbitMQ
/// 3.10 answers a channel over the first by closing the whole connection (530 NOT_ALLOWED), every stream on it with it, and a
/// connection over the second by closing it right after opening it (530 NOT_ALLOWED).
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class UserLimitTests(BrokerFixture broker) : IAsyncLifetime
{
    private const int MaxChannels = 4;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _user = $"es-limits-{Guid.NewGuid():N}"[..24];
    private readonly string _password = $"pw-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        var url = new Uri(broker.AmqpUrl);
        var vhost = url.AbsolutePath is "/" or "" ? "/" : Uri.UnescapeDataString(url.AbsolutePath[1..]);
        await broker.Rabbitmqctl.RunCheckedAsync(["add_user", _user, _password]);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", vhost, _user, ".*", ".*", ".*"]);
    }

    public async Task DisposeAsync() => await broker.Rabbitmqctl.RunAsync(["delete_user", _user]);

    /// <summary>
    /// The gateway tried the subscriber's channel over the user's channel limit on its next connection, and the next: one
    /// subscriber over the limit (a client walking ids, or polls left held) closed every broker connection of the gateway,
    /// ending every stream.
    /// </summary>
    [Fact]
    public async Task ChannelOverTheUsersLimit_ClosesOneConnection_NotEveryOne()
    {
        await broker.Rabbitmqctl.RunCheckedAsync(["set_user_limits", _user, $"{{\"max-channels\": {MaxChannels}}}"]);
        var url = new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();
        await using var amqp = await broker.ConnectAsync(nameof(ChannelOverTheUsersLimit_ClosesOneConnection_NotEveryOne));
        await using var gateway = await GatewayServer.StartAsync(url, o => o.Broker.Node = [url, url]);
        var queues = Enumerable.Range(0, MaxChannels).Select(i => broker.UniqueQueueName($"{nameof(UserLimitTests)}{i}")).ToArray();
        var streams = new List<SseClient>();
        try
        {
            foreach (var queue in queues)
            {
                var sse = await gateway.SubscribeAsync($"/?id={queue}");
                streams.Add(sse);
                Assert.Equal(HttpStatusCode.OK, sse.Status);
            }

            using var over = await gateway.Client.GetAsync($"/?id={broker.UniqueQueueName("over")}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);

            // The streams on the connection the broker closed have ended; those on the other stream on.
            foreach (var queue in queues)
            {
                await amqp.PublishAsync(queue, "after the refusal");
            }

            var streaming = 0;
            foreach (var sse in streams)
            {
                if (await sse.ReadUntilAsync(t => t.Contains("data: after the refusal", StringComparison.Ordinal), TimeSpan.FromSeconds(3)))
                {
                    streaming++;
                }
            }

            Assert.Equal(MaxChannels / 2, streaming);
        }
        finally
        {
            foreach (var sse in streams)
            {
                await sse.DisposeAsync();
            }

            foreach (var queue in queues)
            {
                await amqp.DeleteQueueAsync(queue);
            }
        }
    }

    /// <summary>
    /// The gateway took each connection refused at the user's connection limit for a connection (event 200, then 202) and
    /// counted it in <c>eventsourced_broker_reconnects_total</c>: a connection that never came up looked like one that flapped.
    /// </summary>
    [Fact]
    public async Task ConnectionRefusedAtTheUsersLimit_IsAFailedAttempt_NotAReconnect()
    {
        var url = new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();
        using var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(url, null, log);
        var topic = broker.UniqueQueueName(nameof(UserLimitTests));
        await using (var sse = await gateway.SubscribeAsync($"/topics/{topic}"))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
        }

        // The topic's stream connection is up beside the subscribers'; the user may now hold one connection only.
        var streams = $"{gateway.Pool.ConnectionNamePrefix} streams #1";
        await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.ListConnectionsAsync()).Any(c => c.ClientProvidedName == streams), Patience, "the streams connection open");
        await broker.Rabbitmqctl.RunCheckedAsync(["set_user_limits", _user, "{\"max-connections\": 1}"]);
        var name = (await broker.Rabbitmqctl.ListConnectionsAsync()).Single(c => c.ClientProvidedName == streams).Name;
        // (close_connection takes the pid as the plain listing prints it, not as JSON does.)
        var listing = await broker.Rabbitmqctl.RunCheckedAsync(["list_connections", "pid", "name"]);
        var line = Assert.Single(listing.Split('\n'), l => l.EndsWith("\t" + name, StringComparison.Ordinal));
        await broker.Rabbitmqctl.RunCheckedAsync(["close_connection", line.Split('\t')[0].Trim(), "test: connection lost"]);

        // Each attempt the broker refuses is a connection that cannot be made (event 201, naming the refusal), tried again.
        await Wait.UntilAsync(
            () => Task.FromResult(log.Entries.Count(e => e.EventId == 201 && e.Message.Contains("streams #1", StringComparison.Ordinal) && e.Message.Contains("530 NOT_ALLOWED", StringComparison.Ordinal)) >= 2),
            Patience,
            "two refused attempts logged as such");
        Assert.Equal(1, log.Entries.Count(e => e.EventId == 200 && e.Message.Contains("streams #1", StringComparison.Ordinal)));
        var amqp = new Uri(broker.AmqpUrl);
        var node = $"{amqp.Host}:{amqp.Port}";
        var scrape = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(0, scrape.Value("eventsourced_broker_reconnects_total", ("node", node)));
        Assert.Equal(1, scrape.Value("eventsourced_broker_connections_held", ("node", node), ("kind", "streams"), ("state", "down")));
    }

    /// <summary>
    /// A publishing connection the broker does not let through (here the user's channel limit, which the subscriber's
    /// channel took) is the pool's event 206, saying that publishes fail; the client's publish is answered with an error,
    /// and no event 330 says the same outage again.
    /// </summary>
    [Fact]
    public async Task PublishingOverTheUsersChannelLimit_IsEvent206SayingPublishesFail_NotAlso330()
    {
        await broker.Rabbitmqctl.RunCheckedAsync(["set_user_limits", _user, "{\"max-channels\": 1}"]);
        var url = new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();
        using var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(url, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = string.Empty;
            o.Ws.PublishRoutingKey = "inbox.${to}";
        }, log);
        var queue = broker.UniqueQueueName(nameof(PublishingOverTheUsersChannelLimit_IsEvent206SayingPublishesFail_NotAlso330));
        var claims = TestTokens.Claims("alice", queue);
        claims["publish"] = new[] { "bob" };
        await using var amqp = await broker.ConnectAsync(nameof(PublishingOverTheUsersChannelLimit_IsEvent206SayingPublishesFail_NotAlso330));
        try
        {
            await using var alice = await gateway.ConnectWebSocketAsync($"/ws?id={queue}&access_token={TestTokens.Hs256(claims)}");
            Assert.True(alice.Connected, $"{alice.Status} {alice.Reason}");

            await alice.SendAsync("{\"publish\": {\"to\": \"bob\", \"data\": \"over the limit\"}, \"ref\": \"m1\"}");

            var answer = (await alice.ReceiveAnswersAsync(1, Patience))[0];
            Assert.True(answer.TryGetProperty("error", out _), answer.GetRawText());
            var line = Assert.Single(log.Entries, e => e.EventId == 206).Message;
            Assert.Contains("WebSocket clients' publishes and presence events fail", line, StringComparison.Ordinal);
            Assert.DoesNotContain(log.Entries, e => e.EventId == 330);
        }
        finally
        {
            await amqp.DeleteQueueAsync(queue);
        }
    }
}
