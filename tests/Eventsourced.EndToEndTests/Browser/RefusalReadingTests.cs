using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// A page of an allowed origin reads the gateway's refusals with <c>fetch</c> (as a long-poll client does): the status,
/// <c>X-Status-Reason</c> and <c>Retry-After</c>. The <c>404</c> of a path no endpoint serves carried no CORS headers (the
/// page saw a network error), and a busy queue's <c>503</c> had no <c>Retry-After</c>.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class RefusalReadingTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Fetch_FromAnAllowedOrigin_ReadsTheStatus_TheReason_AndRetryAfter()
    {
        var queue = broker.UniqueQueueName(nameof(Fetch_FromAnAllowedOrigin_ReadsTheStatus_TheReason_AndRetryAfter));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Path = "/events";
            o.Header.Cors["Access-Control-Allow-Origin"] = site.Origin;
            o.Queue.BusyGraceSeconds = 1;
        });
        var page = await chromium.NewPageAsync();
        try
        {
            // The page's own EventSource holds the queue, so that a poll of it is refused as busy.
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/events?id={queue}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);

            var answers = await page.EvaluateAsync<string[][]>(
                """
                urls => Promise.all(urls.map(async url => {
                  try {
                    const r = await fetch(url);
                    return [String(r.status), r.headers.get("X-Status-Reason") ?? "", r.headers.get("Retry-After") ?? ""];
                  } catch (e) {
                    return ["unreadable", String(e), ""];
                  }
                }))
                """,
                new[] { PageServer.GatewayUrl(gateway.Port, "/nothing"), PageServer.GatewayUrl(gateway.Port, $"/poll?id={queue}") });

            Assert.Equal(["404", "no such endpoint", ""], answers[0]);
            Assert.Equal(["503", "queue is already being consumed by another subscriber", "1"], answers[1]);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// A fetch-based reader (as <c>@microsoft/fetch-event-source</c>) on a page of another origin, against the default
    /// <c>header.cors</c>: it sends its token as <c>Authorization: Bearer</c> and a topic's last id as <c>Last-Event-ID</c>, so
    /// the browser sends a preflight first, which the default <c>Access-Control-Allow-Headers</c> must answer for both.
    /// </summary>
    [Fact]
    public async Task FetchReader_WithBearerTokenAndLastEventId_ReadsTheStream_WithTheDefaultCors()
    {
        var topic = broker.UniqueQueueName(nameof(FetchReader_WithBearerTokenAndLastEventId_ReadsTheStream_WithTheDefaultCors));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.ReadClaims["topic"] = string.Empty;
        });
        await using var amqp = await broker.ConnectAsync(nameof(FetchReader_WithBearerTokenAndLastEventId_ReadsTheStream_WithTheDefaultCors));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, "/unused")));
            // The topic's stream exists (an EventSource of the page's would create it too) and holds two events.
            using (var created = await gateway.Client.GetAsync($"/topics/{topic}?access_token={TestTokens.Hs256(TestTokens.Claims("7"))}", HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, created.StatusCode);
            }

            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "first");
            await amqp.PublishAsync(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic, "second");
            var read = await page.EvaluateAsync<string>(
                """
                async ([url, token]) => {
                  try {
                    const r = await fetch(url, { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream", "Last-Event-ID": "0" } });
                    const reader = r.body.getReader();
                    let text = "";
                    while (!text.includes("data: second")) {
                      const { value, done } = await reader.read();
                      if (done) break;
                      text += new TextDecoder().decode(value);
                    }
                    reader.cancel();
                    return r.status + " " + text.split("\n").filter(l => l.startsWith("data:") || l.startsWith("id:")).join(",");
                  } catch (e) {
                    return "unreadable " + e;
                  }
                }
                """,
                new object[] { PageServer.GatewayUrl(gateway.Port, $"/topics/{topic}"), TestTokens.Hs256(TestTokens.Claims("7")) });

            Assert.Equal("200 id: 1,data: second", read);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
