using Eventsourced.EndToEndTests.Infrastructure;

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
}
