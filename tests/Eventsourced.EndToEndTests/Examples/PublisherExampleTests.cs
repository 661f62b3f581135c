using System.Net;
using System.Xml.Linq;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Examples;

/// <summary>
/// The publishing examples in <c>examples/</c>, run as a user would run them, each publishing to the queue of
/// a subscriber that is streaming from a real gateway.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class PublisherExampleTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Restores and builds on first use: minutes on a cold cache.</summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    private const string MultiLine = "first line\nsecond line: Grüße, 東京 🎉";

    [Fact]
    public void CSharpFileBasedApps_PinThePackageVersionsTheGatewayIsBuiltAndTestedWith()
    {
        // A service copies an example with its #:package line: publish.cs named RabbitMQ.Client 7.1.2, older than the
        // gateway's, without the fixes made after it (leaks, recovery).
        var pinned = XDocument.Load(Path.Combine(RepoPaths.Root, "Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!);
        var checkedPins = 0;
        foreach (var file in Directory.GetFiles(RepoPaths.Examples("csharp"), "*.cs"))
        {
            foreach (var line in File.ReadLines(file).Where(l => l.StartsWith("#:package ", StringComparison.Ordinal)))
            {
                var (package, version) = (line["#:package ".Length..].Split('@')[0], line.Split('@')[1]);
                if (pinned.TryGetValue(package, out var ours))
                {
                    Assert.True(ours == version, $"{Path.GetFileName(file)} pins {package} {version}; the gateway uses {ours}");
                    checkedPins++;
                }
            }
        }

        Assert.True(checkedPins >= 4, $"only {checkedPins} #:package lines of examples/csharp name a package of Directory.Packages.props");
    }

    [Fact]
    public async Task AmqpToolsScript_MessageAsArgumentAndOnStdin_ReachesTheSubscriber()
    {
        Tools.Require("amqp-publish", "amqp-tools");
        var script = RepoPaths.Examples("amqp-tools", "publish.sh");
        await using var subscriber = await SubscribeAsync(nameof(AmqpToolsScript_MessageAsArgumentAndOnStdin_ReachesTheSubscriber));
        // The test broker's URL ends in "/", the trap the script steps around for amqp-publish.
        var environment = new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl };

        var argument = await ProcessRunner.RunAsync(script, [subscriber.Queue, "from amqp-publish"], Timeout, environment);
        var stdin = await ProcessRunner.RunAsync(script, [subscriber.Queue], Timeout, environment, standardInput: MultiLine + "\n");

        Assert.True(argument.ExitCode == 0, argument.ToString());
        Assert.True(stdin.ExitCode == 0, stdin.ToString());
        Assert.Equal(["from amqp-publish", MultiLine], await subscriber.Stream.ReadEventsAsync(2, Timeout));
    }

    [Fact]
    public async Task CSharpFileBasedApp_Run_ReachesTheSubscriberAndReportsAMissingQueue()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var app = RepoPaths.Examples("csharp", "publish.cs");
        await using var subscriber = await SubscribeAsync(nameof(CSharpFileBasedApp_Run_ReachesTheSubscriberAndReportsAMissingQueue), webSocket: true);
        var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl });

        var published = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", subscriber.Queue, MultiLine], BuildTimeout, environment,
            workingDirectory: RepoPaths.Examples("csharp"));
        var missing = await ProcessRunner.RunAsync(dotnet, ["run", app, "--", subscriber.Queue + "-missing", "nobody listens"], BuildTimeout, environment,
            workingDirectory: RepoPaths.Examples("csharp"));

        Assert.True(published.ExitCode == 0, published.ToString());
        AssertWithMessageId(await subscriber.WebSocket!.ReceiveMessagesAsync(1, Timeout));
        Assert.True(missing.ExitCode == 69, missing.ToString());
        Assert.Contains("does not exist", missing.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodeAmqplib_NpmCiThenRun_ReachesTheSubscriberAndReportsAMissingQueue()
    {
        var node = Tools.Require("node", "nodejs");
        var npm = Tools.Require("npm", "npm (or nodejs from NodeSource, which includes it)");
        // A copy, so that node_modules never lands in the checkout and concurrent runs do not share one.
        var work = Directory.CreateTempSubdirectory("eventsourced-node-example-");
        try
        {
            foreach (var file in new[] { "package.json", "package-lock.json", "publish.js" })
            {
                File.Copy(RepoPaths.Examples("node", file), Path.Combine(work.FullName, file));
            }

            var install = await ProcessRunner.RunAsync(npm, ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], BuildTimeout, workingDirectory: work.FullName);
            Assert.True(install.ExitCode == 0, install.ToString());
            await using var subscriber = await SubscribeAsync(nameof(NodeAmqplib_NpmCiThenRun_ReachesTheSubscriberAndReportsAMissingQueue), webSocket: true);
            var environment = new Dictionary<string, string?> { ["AMQP_URL"] = broker.AmqpUrl };

            var published = await ProcessRunner.RunAsync(node, ["publish.js", subscriber.Queue, MultiLine], Timeout, environment, work.FullName);
            var missing = await ProcessRunner.RunAsync(node, ["publish.js", subscriber.Queue + "-missing", "nobody listens"], Timeout, environment, work.FullName);

            Assert.True(published.ExitCode == 0, published.ToString());
            AssertWithMessageId(await subscriber.WebSocket!.ReceiveMessagesAsync(1, Timeout));
            Assert.True(missing.ExitCode == 69, missing.ToString());
            Assert.Contains("does not exist", missing.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The message, with a <c>message_id</c> (README "Quick start": the publishers name each message, so that clients can
    /// drop a second delivery by it).
    /// </summary>
    private static void AssertWithMessageId(IReadOnlyList<WebSocketMessage> messages)
    {
        var message = Assert.Single(messages);
        Assert.Equal(MultiLine, message.Data);
        Assert.False(string.IsNullOrEmpty(message.MessageId), "the example published without a message_id");
    }

    /// <param name="webSocket">Also reads the queue over a WebSocket (which shows <c>message_id</c>) instead of the stream.</param>
    private async Task<Subscriber> SubscribeAsync(string testName, bool webSocket = false)
    {
        var queue = broker.UniqueQueueName(testName);
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        if (webSocket)
        {
            var ws = await gateway.ConnectWebSocketAsync($"/ws?id={queue}");
            var subscribed = new Subscriber(queue, gateway, new HttpClient(), null!) { WebSocket = ws };
            if (!ws.Connected)
            {
                await subscribed.DisposeAsync();
                Assert.Fail($"the gateway answered {(int)ws.Status}");
            }

            return subscribed;
        }

        var client = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        var stream = await SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None);
        var subscriber = new Subscriber(queue, gateway, client, stream);
        if (stream.Status != HttpStatusCode.OK)
        {
            await subscriber.DisposeAsync();
            Assert.Fail($"the gateway answered {(int)stream.Status}");
        }

        return subscriber;
    }

    private sealed record Subscriber(string Queue, GatewayServer Gateway, HttpClient Client, SseClient Stream) : IAsyncDisposable
    {
        public WebSocketClient? WebSocket { get; init; }

        public async ValueTask DisposeAsync()
        {
            if (WebSocket is not null)
            {
                await WebSocket.DisposeAsync();
            }

            if (Stream is not null)
            {
                await Stream.DisposeAsync();
            }

            Client.Dispose();
            await Gateway.DisposeAsync();
        }
    }
}
