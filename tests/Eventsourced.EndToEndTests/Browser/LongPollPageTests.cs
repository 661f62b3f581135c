using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// README "Long-polling", from a page: the README's <c>fetch</c> loop (<c>Browser/Pages/poll.html</c>) in Chromium waits
/// out a busy queue's <c>503</c> by its <c>Retry-After</c>, renews its token on <c>401</c> without losing or repeating a
/// message, and stops on a refusal that retrying cannot mend instead of polling in a loop.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class LongPollPageTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadmeLoop_WaitsOutA503_RenewsExpiredTokens_EveryMessageOnceInOrder()
    {
        var queue = broker.UniqueQueueName(nameof(ReadmeLoop_WaitsOutA503_RenewsExpiredTokens_EveryMessageOnceInOrder));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Auth.ReadClaims["queue"] = string.Empty;
            o.Poll.WaitSeconds = 2;
            o.Queue.BusyGraceSeconds = 1;
        });
        await using var amqp = await broker.ConnectAsync(nameof(ReadmeLoop_WaitsOutA503_RenewsExpiredTokens_EveryMessageOnceInOrder));
        var page = await chromium.NewPageAsync();
        try
        {
            // Another subscriber holds the queue when the page starts: 503 with Retry-After until it leaves. (A raw
            // socket, closed at once: HttpClient drains a disposed response for up to 2 s, which would take messages.)
            using (var holder = new System.Net.Sockets.TcpClient())
            {
                await holder.ConnectAsync("127.0.0.1", gateway.Port);
                var stream = holder.GetStream();
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET /?id={queue}&access_token={TestTokens.Hs256(TestTokens.Claims("7"))} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
                var head = new byte[1024];
                var read = await stream.ReadAsync(head);
                Assert.StartsWith("HTTP/1.1 200", System.Text.Encoding.ASCII.GetString(head, 0, read), StringComparison.Ordinal);
                var query = $"?src={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port, $"/poll?id={queue}"))}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 3))}";
                await page.GotoAsync(site.PageUrl("poll.html", query));
                await WaitUntilAsync(page, "p.statuses.includes(503)");
                await Task.Delay(TimeSpan.FromSeconds(2));
            }

            // Tokens of 3 s: messages published over 8 s reach the page across two or more expiries.
            for (var i = 0; i < 8; i++)
            {
                await amqp.PublishAsync(queue, $"m{i}");
                await Task.Delay(TimeSpan.FromSeconds(1));
            }

            await WaitUntilAsync(page, "p.data.length >= 8");
            await Task.Delay(TimeSpan.FromSeconds(1));
            var polled = await ReadAsync(page);
            Assert.Equal(Enumerable.Range(0, 8).Select(i => $"m{i}"), polled.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()));
            var statuses = polled.RootElement.GetProperty("statuses").EnumerateArray().Select(e => e.GetInt32()).ToList();
            Assert.Contains(401, statuses);
            Assert.InRange(statuses.Count(s => s == 503), 1, 3); // waited by Retry-After, not polled in a loop
            Assert.True(polled.RootElement.GetProperty("tokens").GetInt32() >= 3, polled.RootElement.ToString());
            Assert.Equal(JsonValueKind.Null, polled.RootElement.GetProperty("stopped").ValueKind);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task ReadmeLoop_PollsAUrlWithoutAQuery_WhenThePatternNeedsNone()
    {
        // queue.pattern from the token alone: the page polls "/poll", no query. The loop once appended "&ack=" to the URL as
        // it was, polling "/poll&ack=", which server.path / served as the event stream: the page's response.json() waited
        // for a stream that never ends while the queue's messages were acknowledged into it.
        var prefix = broker.UniqueQueueName(nameof(ReadmeLoop_PollsAUrlWithoutAQuery_WhenThePatternNeedsNone));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Queue.Pattern = prefix + "-${claim:sub}";
            o.Poll.WaitSeconds = 1;
        });
        await using var amqp = await broker.ConnectAsync(nameof(ReadmeLoop_PollsAUrlWithoutAQuery_WhenThePatternNeedsNone));
        var page = await chromium.NewPageAsync();
        try
        {
            var query = $"?src={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port, "/poll"))}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 60))}";
            await page.GotoAsync(site.PageUrl("poll.html", query));
            await WaitUntilAsync(page, "p.statuses.includes(200)");
            for (var i = 0; i < 3; i++)
            {
                await amqp.PublishAsync(prefix + "-7", $"m{i}");
            }

            await WaitUntilAsync(page, "p.data.length >= 3");
            await Task.Delay(TimeSpan.FromSeconds(2));
            var polled = await ReadAsync(page);
            Assert.Equal(["m0", "m1", "m2"], polled.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(JsonValueKind.Null, polled.RootElement.GetProperty("stopped").ValueKind);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task ReadmeLoop_StopsOnARefusalThatRetryingCannotMend()
    {
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Auth.Jwt.Secret = TestTokens.Secret);
        var page = await chromium.NewPageAsync();
        try
        {
            // The token lists no queues: every poll would be 403.
            var query = $"?src={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port, "/poll?id=someone-else"))}&token_url={Uri.EscapeDataString(site.TokenUrl("7", 60))}";
            await page.GotoAsync(site.PageUrl("poll.html", query));
            await WaitUntilAsync(page, "p.stopped !== null");
            await Task.Delay(TimeSpan.FromSeconds(1));

            var polled = await ReadAsync(page);
            Assert.Equal("403 token does not permit reading queue 'someone-else': its claim 'queues' is missing or empty", polled.RootElement.GetProperty("stopped").GetString());
            Assert.Equal([403], polled.RootElement.GetProperty("statuses").EnumerateArray().Select(e => e.GetInt32()));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    private static async Task<JsonDocument> ReadAsync(IPage page) => JsonDocument.Parse(await PageState.ReadAsync(page, "polled"));

    private static Task WaitUntilAsync(IPage page, string condition) => PageState.WaitUntilAsync(page, "polled", "p", condition, Timeout);
}
