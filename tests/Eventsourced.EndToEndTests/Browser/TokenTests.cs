using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// Subscriber tokens and allowed origins in Chromium: a page of a listed origin streams with its cookie
/// token; a page of an unlisted origin is blocked by the browser; a page whose token expired gets 401 and
/// recovers with a new one (the demo page, <c>examples/browser/index.html</c>).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TokenTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CookieToken_FromAListedOrigin_Streams()
    {
        var queue = broker.UniqueQueueName(nameof(CookieToken_FromAListedOrigin_Streams));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.FromCookie = PageServer.TokenCookie;
            o.Header.Cors["Access-Control-Allow-Origin"] = $"https://admin.example.test, {site.Origin}";
            o.Header.Cors["Access-Control-Allow-Credentials"] = "true";
        });
        var page = await chromium.NewPageAsync();
        try
        {
            var token = TestTokens.Hs256(TestTokens.Claims("7", queue));
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}"), withCredentials: true, tokenCookie: token));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await using var amqp = await broker.ConnectAsync(nameof(CookieToken_FromAListedOrigin_Streams));
            await amqp.PublishAsync(queue, "for the cookie's holder");

            await Harness.WaitUntilAsync(page, "h.events.length >= 1", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["for the cookie's holder"], seen.Events);
            Assert.Equal(0, seen.Errors);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// <c>sse.end_event</c>: a page sees why its stream ended (the token expired) in an event, before its EventSource
    /// reconnects with the expired token, so it can fetch a new one first.
    /// </summary>
    [Fact]
    public async Task TokenExpires_WithAnEndEvent_ThePageSeesWhy()
    {
        var queue = broker.UniqueQueueName(nameof(TokenExpires_WithAnEndEvent_ThePageSeesWhy));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Sse.EndEvent = "end";
        });
        var page = await chromium.NewPageAsync();
        try
        {
            // Long enough for the page to open before it expires under CI's load (the chat example's 4 s token once
            // expired before its page had opened).
            var token = TestTokens.Hs256(TestTokens.Claims("7", queue), TimeSpan.FromSeconds(8));
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}&access_token={token}")) + "&types=end");
            await Harness.WaitUntilAsync(page, "h.typed.length === 1", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["end: token expired"], seen.Typed);
            Assert.Empty(seen.Events);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task UnlistedOrigin_IsBlockedByTheBrowserAndConsumesNothing()
    {
        var queue = broker.UniqueQueueName(nameof(UnlistedOrigin_IsBlockedByTheBrowserAndConsumesNothing));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://admin.example.test, http://other.example.test:8080");
        var page = await chromium.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => { lock (console) { console.Add(message.Text); } };
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(page, $"h.states.includes({HarnessState.Closed})", Timeout);

            var seen = await Harness.ReadAsync(page);
            Assert.Equal(0, seen.Opens);
            Assert.Equal([HarnessState.Closed], seen.States);
            lock (console)
            {
                Assert.Contains(console, text => text.Contains("CORS policy", StringComparison.Ordinal) && text.Contains("Access-Control-Allow-Origin", StringComparison.Ordinal));
            }

            await using var amqp = await broker.ConnectAsync(nameof(UnlistedOrigin_IsBlockedByTheBrowserAndConsumesNothing));
            Assert.False(await amqp.QueueExistsAsync(queue), "the gateway consumed for a page of an unlisted origin");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task DemoPage_TokenExpires_Gets401AndRecoversWithANewToken()
    {
        var prefix = broker.UniqueQueueName("user");
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Queue.Pattern = prefix + "-${claim:sub}";
        });
        var page = await chromium.NewPageAsync();
        try
        {
            // Tokens valid for 4 s: the first stream ends with its token, EventSource's reconnect gets 401.
            var query = $"?gateway={Uri.EscapeDataString(PageServer.GatewayUrl(gateway.Port))}&token_url={Uri.EscapeDataString(site.TokenUrl("42", 4))}&connect=1";
            await page.GotoAsync(site.DemoUrl(query));
            await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
            await using var amqp = await broker.ConnectAsync(nameof(DemoPage_TokenExpires_Gets401AndRecoversWithANewToken));
            await amqp.PublishAsync(prefix + "-42", "with the first token");
            await Assertions.Expect(page.Locator("#messages li pre")).ToHaveTextAsync(["with the first token"]);

            await Wait.UntilAsync(() => site.TokensIssued >= 2, Timeout, "the page fetched a second token");
            await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open", new() { Timeout = 20_000 });
            await amqp.PublishAsync(prefix + "-42", "with a new token");

            await Assertions.Expect(page.Locator("#messages li pre")).ToHaveTextAsync(["with the first token", "with a new token"]);
            var scrape = await gateway.Client.GetStringAsync("/metrics");
            Assert.Matches("eventsourced_streams_total\\{outcome=\"unauthorized\"\\} [1-9]", scrape);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
