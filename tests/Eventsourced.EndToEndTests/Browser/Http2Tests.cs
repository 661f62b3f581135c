using System.Text.Json;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// <c>server.tls</c> in a browser: ten EventSources on one page to one gateway over HTTPS all stream at once. Over
/// HTTP/1.1 Chromium opens at most six connections per host and the other four would wait; over HTTP/2 they share
/// one connection. The gateway's self-signed certificate is trusted by this browser only, by its public key
/// (<c>--ignore-certificate-errors-spki-list</c>, so a browser of its own rather than the shared one).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class Http2Tests(BrokerFixture broker) : IDisposable
{
    private const int Streams = 10;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-e2e-tls-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task TenEventSourcesOnOnePage_OverHttpsWithHttp2_AllStreamAtOnce()
    {
        using var certificate = TestCertificate.Create();
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Tls = new(StringComparer.OrdinalIgnoreCase)
        {
            ["certificate"] = certificatePath,
            ["key"] = keyPath,
        });
        var origin = $"https://127.0.0.1:{gateway.Port}";
        var queues = Enumerable.Range(0, Streams).Select(i => broker.UniqueQueueName($"h2-page-{i}")).ToArray();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        var context = await browser.NewContextAsync();
        context.SetDefaultTimeout(20_000);
        var page = await context.NewPageAsync();

        // A page of the gateway's own origin (its liveness probe), so the EventSources need no CORS.
        await page.GotoAsync($"{origin}/healthz");
        Assert.Equal("h2", await page.EvaluateAsync<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol"));
        await page.EvaluateAsync(
            """
            queues => {
              window.h = { opens: 0, errors: 0, data: {} };
              for (const queue of queues) {
                const source = new EventSource("/?id=" + encodeURIComponent(queue));
                source.onopen = () => window.h.opens++;
                source.onerror = () => window.h.errors++;
                source.onmessage = e => window.h.data[queue] = e.data;
              }
            }
            """,
            queues);

        await page.WaitForFunctionAsync($"window.h.opens === {Streams}", null, new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
        using (var vars = JsonDocument.Parse(await GetDebugVarsAsync(page, origin)))
        {
            Assert.Equal(Streams, vars.RootElement.GetProperty("streams").GetInt32());
        }

        await using var amqp = await broker.ConnectAsync(nameof(Http2Tests));
        foreach (var queue in queues)
        {
            await amqp.PublishAsync(queue, $"hello {queue}");
        }

        await page.WaitForFunctionAsync($"Object.keys(window.h.data).length === {Streams}", null, new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
        var data = await page.EvaluateAsync<Dictionary<string, string>>("window.h.data");
        Assert.All(queues, q => Assert.Equal($"hello {q}", data[q]));
        Assert.Equal(0, await page.EvaluateAsync<int>("window.h.errors"));
        await context.CloseAsync();
    }

    private static Task<string> GetDebugVarsAsync(IPage page, string origin) =>
        page.EvaluateAsync<string>($"fetch('{origin}/debug/vars').then(r => r.text())");
}
