using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.IntegrationTests.Observability;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A broker user with a connection limit (<c>rabbitmqctl set_user_limits USER '{"max-connections": N}'</c>): RabbitMQ 3.10
/// refuses a connection over it only after <c>connection.open-ok</c>, closing it at once with 530 NOT_ALLOWED. The gateway
/// took each refused attempt for a connection (event 200, then 202) and counted it in
/// <c>eventsourced_broker_reconnects_total</c>: a connection that never came up looked like one that flapped.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class UserConnectionLimitTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _user = $"es-conns-{Guid.NewGuid():N}"[..24];
    private readonly string _password = $"pw-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        var url = new Uri(broker.AmqpUrl);
        var vhost = url.AbsolutePath is "/" or "" ? "/" : Uri.UnescapeDataString(url.AbsolutePath[1..]);
        await broker.Rabbitmqctl.RunCheckedAsync(["add_user", _user, _password]);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", vhost, _user, ".*", ".*", ".*"]);
    }

    public async Task DisposeAsync() => await broker.Rabbitmqctl.RunAsync(["delete_user", _user]);

    [Fact]
    public async Task ConnectionRefusedAtTheUsersLimit_IsAFailedAttempt_NotAReconnect()
    {
        var url = new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();
        using var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(url, null, log);
        var topic = broker.UniqueQueueName(nameof(UserConnectionLimitTests));
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
}
