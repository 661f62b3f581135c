using System.Net;
using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.EndToEndTests.Examples;

/// <summary>
/// The token-issuing examples (<c>examples/csharp/issue-token.cs</c>, <c>examples/node/issue-token.mjs</c>), run as a
/// user would run them: each token opens a stream on a real gateway that requires tokens, the queue named by its
/// <c>sub</c> (<c>user-${claim:sub}</c>) or listed in its <c>queues</c> claim (<c>${query:id}</c>), and no other.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TokenExampleTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Restores and builds on first use: minutes on a cold cache.</summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task CSharpIssueToken_TokenStreamsItsOwnQueueOnly()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var app = RepoPaths.Examples("csharp", "issue-token.cs");
        var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?> { ["EVENTSOURCED_AUTH__JWT__SECRET"] = TestTokens.Secret });
        var listed = broker.UniqueQueueName("listed");

        var own = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", "42"], BuildTimeout, environment, workingDirectory: RepoPaths.Examples("csharp"));
        var withQueues = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", "42", "2", listed], BuildTimeout, environment, workingDirectory: RepoPaths.Examples("csharp"));
        var usage = await ProcessRunner.RunAsync(dotnet, ["run", app], BuildTimeout, environment, workingDirectory: RepoPaths.Examples("csharp"));
        var room = broker.UniqueQueueName("room");
        var chat = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", "42", "--topics", room, "--publish", room], BuildTimeout, environment, workingDirectory: RepoPaths.Examples("csharp"));
        var missing = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", "42", "--publish"], BuildTimeout, environment, workingDirectory: RepoPaths.Examples("csharp"));

        Assert.True(own.ExitCode == 0, own.ToString());
        Assert.True(withQueues.ExitCode == 0, withQueues.ToString());
        Assert.Equal(64, usage.ExitCode);
        Assert.True(chat.ExitCode == 0, chat.ToString());
        Assert.Equal(64, missing.ExitCode);
        await AssertStreamsAsync(own.StandardOutput.Trim(), withQueues.StandardOutput.Trim(), listed, nameof(CSharpIssueToken_TokenStreamsItsOwnQueueOnly));
        await AssertReadsAndPublishesTopicAsync(chat.StandardOutput.Trim(), room);
    }

    [Fact]
    public async Task NodeIssueToken_TokenStreamsItsOwnQueueOnly()
    {
        var node = Tools.Require("node", "nodejs");
        var npm = Tools.Require("npm", "npm (or nodejs from NodeSource, which includes it)");
        var work = Directory.CreateTempSubdirectory("eventsourced-node-token-");
        try
        {
            foreach (var file in new[] { "package.json", "package-lock.json", "issue-token.mjs" })
            {
                File.Copy(RepoPaths.Examples("node", file), Path.Combine(work.FullName, file));
            }

            var install = await ProcessRunner.RunAsync(npm, ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], BuildTimeout, workingDirectory: work.FullName);
            Assert.True(install.ExitCode == 0, install.ToString());
            var environment = new Dictionary<string, string?> { ["EVENTSOURCED_AUTH__JWT__SECRET"] = TestTokens.Secret };
            var listed = broker.UniqueQueueName("listed");

            var own = await ProcessRunner.RunAsync(node, ["issue-token.mjs", "42"], Timeout, environment, work.FullName);
            var withQueues = await ProcessRunner.RunAsync(node, ["issue-token.mjs", "42", "2", listed], Timeout, environment, work.FullName);
            var usage = await ProcessRunner.RunAsync(node, ["issue-token.mjs"], Timeout, environment, work.FullName);
            var room = broker.UniqueQueueName("room");
            var chat = await ProcessRunner.RunAsync(node, ["issue-token.mjs", "42", "--topics", room, "--publish", room], Timeout, environment, work.FullName);
            var missing = await ProcessRunner.RunAsync(node, ["issue-token.mjs", "42", "--publish"], Timeout, environment, work.FullName);

            Assert.True(own.ExitCode == 0, own.ToString());
            Assert.True(withQueues.ExitCode == 0, withQueues.ToString());
            Assert.Equal(64, usage.ExitCode);
            Assert.True(chat.ExitCode == 0, chat.ToString());
            Assert.Equal(64, missing.ExitCode);
            await AssertStreamsAsync(own.StandardOutput.Trim(), withQueues.StandardOutput.Trim(), listed, nameof(NodeIssueToken_TokenStreamsItsOwnQueueOnly));
            await AssertReadsAndPublishesTopicAsync(chat.StandardOutput.Trim(), room);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// <paramref name="token"/> (sub 42, <c>--topics ROOM --publish ROOM</c>) reads the topic <paramref name="room"/> over
    /// a WebSocket and publishes into it, and its event comes back from the token's sub; another topic is a 403.
    /// </summary>
    private async Task AssertReadsAndPublishesTopicAsync(string token, string room)
    {
        await using var amqp = await broker.ConnectAsync(nameof(AssertReadsAndPublishesTopicAsync));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Ws.Publish = true;
            o.Ws.PublishExchange = string.Empty;
            o.Ws.PublishRoutingKey = Eventsourced.Topics.TopicOptions.DefaultPrefix + "${to}";
        });
        try
        {
            await using (var other = await gateway.ConnectWebSocketAsync($"/ws/topics/{room}-other?access_token={token}"))
            {
                Assert.Equal(HttpStatusCode.Forbidden, other.Status);
            }

            await using var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{room}?access_token={token}");
            Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");
            await Wait.UntilAsync(async () => await amqp.QueueExistsAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + room), Timeout, "the topic's stream exists");
            await ws.SendAsync($"{{\"publish\": {{\"to\": \"{room}\", \"data\": \"hello\"}}, \"ref\": \"r1\"}}");
            Assert.Equal("{\"published\":\"r1\"}", (await ws.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
            var message = Assert.Single(await ws.ReceiveMessagesAsync(1, Timeout));
            Assert.Equal(("hello", "42"), (message.Data, message.From));
        }
        finally
        {
            await amqp.DeleteQueueAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + room);
        }
    }

    /// <summary>
    /// <paramref name="own"/> (sub 42) streams <c>PREFIX-42</c> on a gateway with <c>PREFIX-${claim:sub}</c>;
    /// <paramref name="withQueues"/> streams <paramref name="listed"/> on one with <c>${query:id}</c>, and nothing else.
    /// </summary>
    private async Task AssertStreamsAsync(string own, string withQueues, string listed, string testName)
    {
        var prefix = broker.UniqueQueueName("user");
        await using var amqp = await broker.ConnectAsync(testName);
        await using (var byClaim = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Queue.Pattern = prefix + "-${claim:sub}";
        }))
        {
            await using var stream = await byClaim.SubscribeAsync($"/?access_token={own}");
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            await amqp.PublishAsync(prefix + "-42", "for user 42");
            Assert.Equal(["for user 42"], await stream.ReadEventsAsync(1, Timeout));
        }

        await using var byQuery = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Auth.Jwt.Secret = TestTokens.Secret);
        await using (var stream = await byQuery.SubscribeAsync($"/?id={listed}", r => r.Headers.Authorization = new("Bearer", withQueues)))
        {
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            await amqp.PublishAsync(listed, "for the listed queue");
            Assert.Equal(["for the listed queue"], await stream.ReadEventsAsync(1, Timeout));
        }

        using var other = await byQuery.Client.GetAsync($"/?id={listed}-other&access_token={withQueues}");
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        using var unlisted = await byQuery.Client.GetAsync($"/?id={listed}&access_token={own}");
        Assert.Equal(HttpStatusCode.Forbidden, unlisted.StatusCode);
    }
}
