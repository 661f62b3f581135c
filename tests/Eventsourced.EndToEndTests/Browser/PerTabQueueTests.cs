using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// The README's recipe for a user with several tabs ("Several tabs or devices per user"): a queue per page,
/// <c>inbox.${claim:sub}.${query:tab}</c>, each bound to the user's routing key, in two tabs of one Chromium.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class PerTabQueueTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task TwoTabsOfOneUser_EachWithAQueueBoundToTheUser_BothGetEveryMessage_AndClosingOneLeavesTheOther()
    {
        var users = broker.UniqueQueueName("users");
        var user = broker.UniqueQueueName("tabs").Replace('.', '-');
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Queue.Pattern = "inbox.${claim:sub}.${query:tab}";
            o.Queue.Bind = [$"{users}:topic:user.${{claim:sub}}"];
            o.Queue.ExpiresSeconds = 60;
        });
        await using var amqp = await broker.ConnectAsync(nameof(TwoTabsOfOneUser_EachWithAQueueBoundToTheUser_BothGetEveryMessage_AndClosingOneLeavesTheOther));
        var token = TestTokens.Hs256(TestTokens.Claims(user));
        // Each page's own tab id, as crypto.randomUUID() would give it.
        string Url(string tab) => PageServer.GatewayUrl(gateway.Port, $"/?tab={tab}&access_token={token}");
        var (tabA, tabB) = (Guid.NewGuid().ToString(), Guid.NewGuid().ToString());
        var first = await chromium.NewPageAsync();
        try
        {
            await first.GotoAsync(site.HarnessUrl(Url(tabA)));
            var second = await first.Context.NewPageAsync();
            await second.GotoAsync(site.HarnessUrl(Url(tabB)));
            await Harness.WaitUntilAsync(first, "h.opens === 1", Timeout);
            await Harness.WaitUntilAsync(second, "h.opens === 1", Timeout);

            string[] both = ["to both 1", "to both 2", "to both 3"];
            foreach (var body in both)
            {
                await amqp.PublishToExchangeAsync(users, $"user.{user}", body, mandatory: true);
            }

            await Harness.WaitUntilAsync(first, "h.events.length === 3", Timeout);
            await Harness.WaitUntilAsync(second, "h.events.length === 3", Timeout);
            Assert.Equal(both, (await Harness.ReadAsync(first)).Events);
            Assert.Equal(both, (await Harness.ReadAsync(second)).Events);

            // The first tab closes: its queue loses its consumer and keeps what comes for it (queue.expires),
            // and the second tab goes on getting every message.
            await first.CloseAsync();
            await amqp.UntilConsumersAsync($"inbox.{user}.{tabA}", 0, Timeout, "the gateway lets go of the closed tab's queue");
            string[] after = ["after the close 1", "after the close 2"];
            foreach (var body in after)
            {
                await amqp.PublishToExchangeAsync(users, $"user.{user}", body, mandatory: true);
            }

            await Harness.WaitUntilAsync(second, "h.events.length === 5", Timeout);
            var secondSeen = await Harness.ReadAsync(second);
            Assert.Equal([.. both, .. after], secondSeen.Events);
            Assert.Equal(1, secondSeen.Opens);
            Assert.Equal(0, secondSeen.Errors);
            Assert.Equal(2u, await amqp.MessageCountAsync($"inbox.{user}.{tabA}"));
        }
        finally
        {
            await first.Context.CloseAsync();
        }
    }
}
