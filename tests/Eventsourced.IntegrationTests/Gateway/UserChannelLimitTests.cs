using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A broker user with a channel limit (<c>rabbitmqctl set_user_limits USER '{"max-channels": N}'</c>): RabbitMQ 3.10
/// answers a channel over it by closing the whole connection (530 NOT_ALLOWED), every stream on it with it. The
/// gateway tried the subscriber's channel on its next connection, and the next: one subscriber over the limit (a
/// client walking ids, or polls left held) closed every broker connection of the gateway, ending every stream.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class UserChannelLimitTests(BrokerFixture broker) : IAsyncLifetime
{
    private const int MaxChannels = 4;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly string _user = $"es-channels-{Guid.NewGuid():N}"[..24];
    private readonly string _password = $"pw-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        var url = new Uri(broker.AmqpUrl);
        var vhost = url.AbsolutePath is "/" or "" ? "/" : Uri.UnescapeDataString(url.AbsolutePath[1..]);
        await broker.Rabbitmqctl.RunCheckedAsync(["add_user", _user, _password]);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", vhost, _user, ".*", ".*", ".*"]);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_user_limits", _user, $"{{\"max-channels\": {MaxChannels}}}"]);
    }

    public async Task DisposeAsync() => await broker.Rabbitmqctl.RunAsync(["delete_user", _user]);

    [Fact]
    public async Task ChannelOverTheUsersLimit_ClosesOneConnection_NotEveryOne()
    {
        var url = new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();
        await using var amqp = await broker.ConnectAsync(nameof(ChannelOverTheUsersLimit_ClosesOneConnection_NotEveryOne));
        await using var gateway = await GatewayServer.StartAsync(url, o => o.Broker.Node = [url, url]);
        var queues = Enumerable.Range(0, MaxChannels).Select(i => broker.UniqueQueueName($"{nameof(UserChannelLimitTests)}{i}")).ToArray();
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
}
