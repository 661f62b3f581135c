using System.Net;
using System.Text.Json;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>Tokens (<c>auth</c>) with topics, bindings and presence: the token's <c>topics</c> claim, <c>${claim:..}</c> in <c>queue.bind</c>, the subject in presence events.</summary>
[Collection(BrokerStreamsCollection.Name)]
public sealed class TopicAuthTests(BrokerFixture broker) : TopicTestBase(broker)
{
    [Fact]
    public async Task TopicsClaim_LimitsWhatATokenReads_403Otherwise()
    {
        var gateway = await StartGatewayAsync(o => o.Auth.Jwt.Secret = TestTokens.Secret);
        var prefix = UniqueTopic("prices");
        var allowed = prefix + ".eu";
        var other = UniqueTopic("news");
        var reader = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = "7", ["topics"] = new[] { prefix + ".*" } });
        var queuesOnly = TestTokens.Hs256(TestTokens.Claims("8", "*"));

        await using var read = await gateway.SubscribeAsync($"/topics/{allowed}?access_token={reader}");
        await using var notListed = await gateway.SubscribeAsync($"/topics/{other}?access_token={reader}");
        await using var noClaim = await gateway.SubscribeAsync($"/topics/{allowed}?access_token={queuesOnly}");
        await using var noToken = await gateway.SubscribeAsync($"/topics/{allowed}");

        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal(HttpStatusCode.Forbidden, notListed.Status);
        Assert.Equal($"token does not permit reading topic '{other}': its claim 'topics' does not list it", notListed.Response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(HttpStatusCode.Forbidden, noClaim.Status);
        // A token issued without a topics claim (the chat's tokens need one, and every room was a 403 that did not say why).
        Assert.Equal($"token does not permit reading topic '{allowed}': its claim 'topics' is missing or empty", noClaim.Reason);
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.Status);
        Assert.False(await Amqp.QueueExistsAsync(StreamOf(other)), "a refused topic must not be created");
        await PublishAsync(allowed, 0, 2);
        AssertRun(await read.ReadItemsAsync(2, Timeout), 0, 2);
    }

    [Fact]
    public async Task ClaimInQueueBind_EachTokenBindsItsOwnRoutingKey()
    {
        var users = Broker.UniqueQueueName("users");
        var gateway = await StartGatewayAsync(o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Queue.Pattern = "inbox-${claim:sub}";
            o.Queue.Bind = [$"{users}:topic:user.${{claim:sub}}"];
        });
        var sub = Guid.NewGuid().ToString("N");
        var token = TestTokens.Hs256(TestTokens.Claims(sub));

        await using var stream = await gateway.SubscribeAsync($"/?access_token={token}");
        await Amqp.PublishToExchangeAsync(users, $"user.{sub}", "for you", mandatory: true);

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal(["for you"], await stream.ReadEventsAsync(1, Timeout));
        await Amqp.DeleteExchangeAsync(users);
    }

    [Fact]
    public async Task Presence_CarriesTheTokensSubject()
    {
        var exchange = Broker.UniqueQueueName("presence");
        var watcher = Broker.UniqueQueueName("watcher");
        await Amqp.DeclareExchangeAsync(exchange, RabbitMQ.Client.ExchangeType.Topic);
        await Amqp.DeclareQueueAsync(watcher, expiresSeconds: 60);
        await Amqp.BindQueueAsync(watcher, exchange, "subscribed.#");
        var gateway = await StartGatewayAsync(o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Events.Exchange = exchange;
        });
        var topic = UniqueTopic("room");
        var token = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = "alice", ["topics"] = new[] { topic } });

        await using var stream = await gateway.SubscribeAsync($"/topics/{topic}", r => r.Headers.Authorization = new("Bearer", token));

        Assert.Equal(HttpStatusCode.OK, stream.Status);
        var received = await Amqp.ReceiveAsync(watcher, 1, Timeout);
        var json = JsonDocument.Parse(received[0].Body).RootElement;
        Assert.Equal(("subscribed", "topic", topic, "alice"), (json.GetProperty("event").GetString(), json.GetProperty("kind").GetString(), json.GetProperty("name").GetString(), json.GetProperty("subject").GetString()));
    }
}
