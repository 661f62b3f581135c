using System.Net;
using System.Net.ServerSentEvents;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Examples;

/// <summary>
/// The examples for topics and exchanges, run as a user would run them against a real gateway: publishing to a
/// topic (<c>csharp/publish-topic.cs</c>), to a user's routing key and to everyone, follow and unfollow
/// (<c>csharp/users.cs</c>, <c>amqp-tools/publish-user.sh</c>).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TopicAndExchangeExampleTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Restores and builds on first use: minutes on a cold cache.</summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task PublishTopic_BeforeAndWhileSubscribed_HistoryAndTypedLiveEventsWithIds()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var topic = broker.UniqueQueueName(nameof(PublishTopic_BeforeAndWhileSubscribed_HistoryAndTypedLiveEventsWithIds));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Sse.Event = true);
        var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl });

        // Before anyone subscribed: the example declares the stream, so the event is kept.
        var first = await RunAsync(dotnet, "publish-topic.cs", [topic, "first"], environment);
        await using var stream = await gateway.SubscribeAsync($"/topics/{topic}?lastEventId=earliest");
        Assert.Equal(HttpStatusCode.OK, stream.Status);
        var second = await RunAsync(dotnet, "publish-topic.cs", [topic, "42.50", "price"], environment);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        var items = await stream.ReadItemsAsync(2, Timeout);
        Assert.Equal([("message", "0", "first"), ("price", "1", "42.50")], items.Select(i => (i.EventType, i.EventId, i.Data)));
    }

    [Fact]
    public async Task Users_SendBroadcastFollowUnfollow_ReachExactlyTheRightSubscribers()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var users = broker.UniqueQueueName("users");
        var everyone = broker.UniqueQueueName("broadcast");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Bind = [$"{users}:topic:user.${{query:id}}", $"{everyone}:fanout"]);
        var alice = broker.UniqueQueueName("alice");
        var bob = broker.UniqueQueueName("bob");
        await using var aliceStream = await gateway.SubscribeAsync($"/?id={alice}");
        await using var bobStream = await gateway.SubscribeAsync($"/?id={bob}");
        var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?>
        {
            ["AMQP_URL"] = broker.AmqpUrl,
            ["USERS_EXCHANGE"] = users,
            ["BROADCAST_EXCHANGE"] = everyone,
        });

        ProcessResult[] runs =
        [
            await RunAsync(dotnet, "users.cs", ["send", alice, "hello alice"], environment),
            await RunAsync(dotnet, "users.cs", ["follow", bob, alice], environment),
            await RunAsync(dotnet, "users.cs", ["status", alice, "status of alice"], environment),
            await RunAsync(dotnet, "users.cs", ["send", alice, "private to alice"], environment),
            await RunAsync(dotnet, "users.cs", ["unfollow", bob, alice], environment),
            await RunAsync(dotnet, "users.cs", ["follow", alice, bob], environment),
            await RunAsync(dotnet, "users.cs", ["status", bob, "status of bob"], environment),
            await RunAsync(dotnet, "users.cs", ["broadcast", "to everyone"], environment),
        ];
        var nobody = await RunAsync(dotnet, "users.cs", ["send", broker.UniqueQueueName("nobody"), "lost"], environment);
        var unfollowed = await RunAsync(dotnet, "users.cs", ["status", alice, "after unfollow"], environment);

        // A follower gets its author's status updates and broadcasts, never the author's private messages (go-eventserver's
        // Follow, Private Msg, Status Update and Broadcast); an author gets no status update of their own.
        Assert.All(runs, run => Assert.True(run.ExitCode == 0, run.ToString()));
        Assert.True(nobody.ExitCode == 69, nobody.ToString());
        Assert.True(unfollowed.ExitCode == 69, unfollowed.ToString());
        Assert.Equal(["hello alice", "private to alice", "status of bob", "to everyone"], await aliceStream.ReadEventsAsync(4, Timeout));
        Assert.Equal(["status of alice", "to everyone"], await bobStream.ReadEventsAsync(2, Timeout));
    }

    [Fact]
    public async Task Users_ExchangeNobodyDeclared_Exits69NamingTheExchangeNotAFollower()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var users = broker.UniqueQueueName("users-undeclared");
        var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl, ["USERS_EXCHANGE"] = users });

        var send = await RunAsync(dotnet, "users.cs", ["send", "42", "hello"], environment);

        Assert.True(send.ExitCode == 69, send.ToString());
        Assert.Contains($"no exchange '{users}'", send.StandardError, StringComparison.Ordinal);
        Assert.Contains("queue.bind", send.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("follower", send.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AmqpToolsPublishUser_ReachesTheUsersQueue()
    {
        Tools.Require("amqp-publish", "amqp-tools");
        var users = broker.UniqueQueueName("users");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Bind = [$"{users}:topic:user.${{query:id}}"]);
        var alice = broker.UniqueQueueName("alice");
        await using var stream = await gateway.SubscribeAsync($"/?id={alice}");
        var environment = new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl, ["USERS_EXCHANGE"] = users };

        var run = await ProcessRunner.RunAsync(RepoPaths.Examples("amqp-tools", "publish-user.sh"), [alice, "from the shell"], Timeout, environment);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["from the shell"], await stream.ReadEventsAsync(1, Timeout));
    }

    private static Task<ProcessResult> RunAsync(string dotnet, string app, string[] arguments, IReadOnlyDictionary<string, string?> environment) =>
        ProcessRunner.RunAsync(dotnet, ["run", RepoPaths.Examples("csharp", app), "--", .. arguments], BuildTimeout, environment,
            workingDirectory: RepoPaths.Examples("csharp"));
}
