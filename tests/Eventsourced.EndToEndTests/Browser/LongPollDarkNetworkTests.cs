using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// README "Long-polling", from a page: its <c>fetch</c> loop (<c>Browser/Pages/poll.html</c>, the README's text) on a
/// page whose network goes dark without a word in the middle of a poll (a proxy the test controls). Browsers set no
/// time limit on a <c>fetch</c>, so a loop that waits for the answer of a poll the network dropped waits for good. The
/// page's clock is Playwright's, so that the loop's own time limit passes when the test says.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class LongPollDarkNetworkTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private const int Batch = 5;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadmeLoop_APollTheNetworkDropped_GivesUpAndPollsAgain_EveryMessageInOrder()
    {
        var queue = broker.UniqueQueueName(nameof(ReadmeLoop_APollTheNetworkDropped_GivesUpAndPollsAgain_EveryMessageInOrder));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.ReadClaims["queue"] = string.Empty;
            o.Poll.WaitSeconds = 2;
            o.Poll.HoldSeconds = 2;
        });
        await using var proxy = new DarkNetworkProxy(gateway.Port);
        await using var amqp = await broker.ConnectAsync(nameof(ReadmeLoop_APollTheNetworkDropped_GivesUpAndPollsAgain_EveryMessageInOrder));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.Clock.InstallAsync();
            var query = $"?src={Uri.EscapeDataString(PageServer.GatewayUrl(proxy.Port, $"/poll?id={queue}"))}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 3600))}";
            await page.GotoAsync(site.PageUrl("poll.html", query));
            await amqp.UntilConsumersAsync(queue, 1, Timeout, "the page polls its queue");
            await PublishAsync(amqp, queue, 0);
            await WaitUntilAsync(page, $"p.data.length === {Batch}");

            // The poll after the answer names its last id; once that poll has its (empty, after poll.wait) answer, the
            // gateway has acknowledged the batch. Going dark before that poll reached the gateway would lose its
            // acknowledgement, and the batch would rightly come again (a message can come twice, README).
            var answered = await page.EvaluateAsync<int>("() => window.polled.statuses.length");
            await WaitUntilAsync(page, $"p.statuses.length > {answered}");

            // The network goes dark under the poll that is waiting now (or on its way): the gateway answers it into the
            // dark, and the page hears nothing, not even that the connection is gone.
            var statuses = await page.EvaluateAsync<int>("() => window.polled.statuses.length");
            proxy.GoDark();
            await PublishAsync(amqp, queue, Batch);
            await amqp.UntilConsumersAsync(queue, 0, Timeout, "the gateway gives the unacknowledged answer back after poll.hold");
            proxy.ComeBack();
            await PublishAsync(amqp, queue, 2 * Batch);
            Assert.Equal(Batch, await page.EvaluateAsync<int>("() => window.polled.data.length"));
            Assert.Equal(statuses, await page.EvaluateAsync<int>("() => window.polled.statuses.length"));

            // A minute of the page's time: the loop gives the dropped poll up and polls again through the network that
            // came back, after its backoff.
            for (var second = 0; second < 60 && await page.EvaluateAsync<int>("() => window.polled.data.length") < 3 * Batch; second++)
            {
                await page.Clock.RunForAsync(1000);
                await Task.Delay(50);
            }

            await WaitUntilAsync(page, $"p.data.length >= {3 * Batch}");
            var polled = await ReadAsync(page);
            Assert.Equal(Enumerable.Range(0, 3 * Batch).Select(i => $"m{i}"), polled.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(JsonValueKind.Null, polled.RootElement.GetProperty("stopped").ValueKind);
        }
        finally
        {
            await page.Context.CloseAsync();
            await amqp.DeleteQueueAsync(queue);
        }
    }

    [Fact]
    public void PollPage_RunsTheReadmeLoopAsWritten()
    {
        // The loop ends at the first line that is a closing brace alone.
        var loop = ReadmeText.Snippet("const sleep = (ms) =>", "\n}\n") + "\n}";
        var page = File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Eventsourced.EndToEndTests", "Browser", "Pages", "poll.html"));
        Assert.Contains(loop, page, StringComparison.Ordinal);
    }

    private static async Task PublishAsync(Eventsourced.Testing.Brokers.AmqpTestClient amqp, string queue, int first)
    {
        for (var i = first; i < first + Batch; i++)
        {
            await amqp.PublishAsync(queue, $"m{i}");
        }
    }

    private static async Task<JsonDocument> ReadAsync(IPage page) => JsonDocument.Parse(await PageState.ReadAsync(page, "polled"));

    private static Task WaitUntilAsync(IPage page, string condition) => PageState.WaitUntilAsync(page, "polled", "p", condition, Timeout);
}
