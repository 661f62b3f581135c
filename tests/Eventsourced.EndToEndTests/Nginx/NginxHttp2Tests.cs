using System.Text.RegularExpressions;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Nginx;

/// <summary>
/// The nginx example served over HTTPS with HTTP/2 as its comment says (<c>listen ... ssl http2;</c> plus the
/// certificate), in Chromium: eight tabs of one browser, each with an EventSource on a queue of its own and one on a
/// topic they share, all stream at once (over HTTP/1.1 the browser allows six connections per host, and the tabs past
/// them would wait), and the tabs closed let go of their queues.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class NginxHttp2Tests(BrokerFixture broker) : IDisposable
{
    private const int Tabs = 8;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-e2e-nginx-h2-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task ExampleConfig_OverHttpsWithHttp2_EightTabsStreamAtOnce_AndClosedTabsLetGoOfTheirQueues()
    {
        using var certificate = TestCertificate.Create();
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        // As the example's comment says: `listen 443 ssl http2;` plus ssl_certificate and ssl_certificate_key.
        await using var nginx = await ExampleNginx.StartAsync([gateway.Port], alter: site => Regex.Replace(
            site,
            @"listen (127\.0\.0\.1:\d+);",
            $"listen $1 ssl http2;\n    ssl_certificate {certificatePath};\n    ssl_certificate_key {keyPath};"));
        var origin = $"https://127.0.0.1:{nginx.Port}";
        var queues = Enumerable.Range(0, Tabs).Select(i => broker.UniqueQueueName($"h2-tab-{i}")).ToArray();
        var topic = broker.UniqueQueueName("h2-tabs");
        await using var amqp = await broker.ConnectAsync(nameof(NginxHttp2Tests));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        var context = await browser.NewContextAsync();
        context.SetDefaultTimeout(20_000);
        var tabs = new List<IPage>();
        try
        {
            foreach (var queue in queues)
            {
                var tab = await context.NewPageAsync();
                tabs.Add(tab);
                // A page of the proxy's own origin (the gateway's liveness probe through it), so the EventSources need no CORS.
                await tab.GotoAsync($"{origin}/healthz");
                Assert.Equal("h2", await tab.EvaluateAsync<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol"));
                await tab.EvaluateAsync(
                    """
                    ([queue, topic]) => {
                      window.h = { opens: 0, errors: 0, queue: [], topic: [] };
                      const own = new EventSource("/?id=" + encodeURIComponent(queue));
                      const shared = new EventSource("/topics/" + encodeURIComponent(topic));
                      for (const source of [own, shared]) {
                        source.onopen = () => window.h.opens++;
                        source.onerror = () => window.h.errors++;
                      }
                      own.onmessage = e => window.h.queue.push(e.data);
                      shared.onmessage = e => window.h.topic.push(e.data);
                    }
                    """,
                    new[] { queue, topic });
            }

            foreach (var tab in tabs)
            {
                await tab.WaitForFunctionAsync("window.h.opens === 2", null, new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
            }

            foreach (var queue in queues)
            {
                await amqp.UntilConsumersAsync(queue, 1, Timeout, $"the gateway consumes {queue}");
                await amqp.PublishAsync(queue, $"hello {queue}");
            }

            await amqp.PublishAsync($"topic.{topic}", "to every tab");
            for (var i = 0; i < Tabs; i++)
            {
                await tabs[i].WaitForFunctionAsync("window.h.queue.length === 1 && window.h.topic.length === 1", null, new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
                Assert.Equal([$"hello {queues[i]}"], await tabs[i].EvaluateAsync<string[]>("window.h.queue"));
                Assert.Equal(["to every tab"], await tabs[i].EvaluateAsync<string[]>("window.h.topic"));
                Assert.Equal(0, await tabs[i].EvaluateAsync<int>("window.h.errors"));
            }

            // Closing a tab resets its streams on the shared connection: nginx ends its upstream requests, the gateway
            // the subscriptions. The tab left open streams on.
            for (var i = 0; i < Tabs - 1; i++)
            {
                await tabs[i].CloseAsync();
            }

            for (var i = 0; i < Tabs - 1; i++)
            {
                await amqp.UntilConsumersAsync(queues[i], 0, Timeout, $"the closed tab's queue {queues[i]} let go");
            }

            Assert.Equal(1u, await amqp.ConsumerCountAsync(queues[^1]));
            await amqp.PublishAsync(queues[^1], "still here");
            await tabs[^1].WaitForFunctionAsync("window.h.queue.length === 2", null, new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
        }
        finally
        {
            await context.CloseAsync();
            foreach (var queue in queues)
            {
                await amqp.DeleteQueueAsync(queue);
            }

            await amqp.DeleteQueueAsync($"topic.{topic}");
        }
    }
}
