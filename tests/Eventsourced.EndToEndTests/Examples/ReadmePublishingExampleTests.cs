using System.Net;
using System.Text.RegularExpressions;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Examples;

/// <summary>
/// The README's C# publishing snippet, run as written (only the broker URL and queue name replaced): it reaches a
/// subscriber, and a message no queue takes makes it fail instead of vanishing (publisher confirms and mandatory).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class ReadmePublishingExampleTests(BrokerFixture broker)
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task ReadmeCSharpSnippet_ReachesTheSubscriber_AndFailsForAMessageNoQueueTakes()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK");
        var queue = broker.UniqueQueueName(nameof(ReadmePublishingExampleTests));
        var work = Directory.CreateTempSubdirectory("eventsourced-readme-snippet-");
        try
        {
            var app = Path.Combine(work.FullName, "snippet.cs");
            await File.WriteAllTextAsync(app, Snippet(broker.AmqpUrl, queue));
            var environment = DotnetBuild.CleanEnvironment(new Dictionary<string, string?>());

            // No queue yet: the message comes back, and the snippet must not pass that off as success.
            var unroutable = await ProcessRunner.RunAsync(dotnet, ["run", app], BuildTimeout, environment, workingDirectory: work.FullName);
            Assert.True(unroutable.ExitCode != 0, "the README's snippet published to a missing queue without an error:\n" + unroutable);
            Assert.Contains("Unhandled exception. RabbitMQ.Client.Exceptions.PublishReturnException", unroutable.StandardError, StringComparison.Ordinal);

            await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
            await using var subscriber = await gateway.SubscribeAsync($"/?id={queue}");
            Assert.Equal(HttpStatusCode.OK, subscriber.Status);
            var published = await ProcessRunner.RunAsync(dotnet, ["run", app], BuildTimeout, environment, workingDirectory: work.FullName);
            Assert.True(published.ExitCode == 0, published.ToString());
            Assert.Equal(["hello, browser"], await subscriber.ReadEventsAsync(1, TimeSpan.FromSeconds(20)));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>The first C# block of the README that publishes, as a file-based app against <paramref name="amqpUrl"/> and <paramref name="queue"/>.</summary>
    private static string Snippet(string amqpUrl, string queue)
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        var block = CSharpBlocks().Matches(readme).Select(m => m.Groups[1].Value).First(b => b.Contains("BasicPublishAsync", StringComparison.Ordinal));
        Assert.Contains("\"amqp://guest:guest@rabbit:5672/\"", block, StringComparison.Ordinal);
        Assert.Contains("\"42\"", block, StringComparison.Ordinal);
        return "#:package RabbitMQ.Client@7.2.2\n#:property PublishAot=false\nusing RabbitMQ.Client;\n"
            + block.Replace("\"amqp://guest:guest@rabbit:5672/\"", $"\"{amqpUrl}\"", StringComparison.Ordinal)
                .Replace("\"42\"", $"\"{queue}\"", StringComparison.Ordinal);
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlocks();
}
