using System.Text.RegularExpressions;
using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Nginx;

/// <summary>
/// The nginx example over HTTPS with HTTP/2 (as browsers are served) reloaded mid-stream (<c>nginx -s reload</c>, what
/// <c>systemctl reload nginx</c> and a certificate renewal do), under one Chromium page with every kind of client the
/// README shows: an EventSource on a queue, one on a topic, a WebSocket with <c>acks=client</c> (the README's
/// <c>onmessage</c>) and the README's long-poll loop. Each client goes on getting every message, once, in order.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class NginxReloadTests(BrokerFixture broker) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(40);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-e2e-nginx-reload-");

    /// <summary>README "Behind nginx": what it gives nginx.conf's main context, as printed.</summary>
    private static string MainConfiguration => ReadmeText.Snippet("# nginx.conf, outside http {}", "\n  ```").Replace("\n  ", "\n", StringComparison.Ordinal);

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task ExampleConfig_OverHttp2_ReloadedTwiceMidStream_EveryClientGetsEveryMessageOnceInOrder()
    {
        const string name = nameof(NginxReloadTests);
        var onMessage = ReadmeText.Snippet("ws.onmessage = (e) => {\n  const m = JSON.parse(e.data);\n  if (\"data\" in m)", "\n};") + "\n};";
        var pollLoop = ReadmeText.Snippet("const sleep = (ms) =>", "\n\npoll(\"https://push.example/poll?id=42\"");
        var mainConfiguration = MainConfiguration;
        using var certificate = TestCertificate.Create();
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            o.Auth.ReadClaims["queue"] = string.Empty;
            o.Auth.ReadClaims["topic"] = string.Empty;
            o.Poll.WaitSeconds = 5;
        });
        await using var nginx = await ExampleNginx.StartAsync(
            [gateway.Port],
            alter: site => Regex.Replace(
                site,
                @"listen (127\.0\.0\.1:\d+);",
                $"listen $1 ssl http2;\n    ssl_certificate {certificatePath};\n    ssl_certificate_key {keyPath};"),
            mainConfiguration: mainConfiguration);
        var origin = $"https://127.0.0.1:{nginx.Port}";
        var (sseQueue, wsQueue, pollQueue) = (broker.UniqueQueueName("reload-sse"), broker.UniqueQueueName("reload-ws"), broker.UniqueQueueName("reload-poll"));
        var topic = broker.UniqueQueueName("reload-topic");
        var token = TestTokens.Hs256(TestTokens.Claims("reload"), TimeSpan.FromHours(1));
        await using var amqp = await broker.ConnectAsync(name);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        var context = await browser.NewContextAsync();
        context.SetDefaultTimeout(20_000);
        try
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync($"{origin}/healthz");
            Assert.Equal("h2", await page.EvaluateAsync<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol"));
            await page.EvaluateAsync(
                """
                ([sse, topic, wsUrl, pollUrl, token, onMessage, pollLoop]) => {
                  window.r = { sse: [], topic: [], ws: [], poll: [], sseOpens: 0, topicOpens: 0, wsOpens: 0, wsCloses: [], stopped: null };
                  const queueSource = new EventSource(sse);
                  queueSource.onmessage = (e) => window.r.sse.push(e.data);
                  queueSource.onopen = () => window.r.sseOpens++;
                  const topicSource = new EventSource(topic);
                  topicSource.onmessage = (e) => window.r.topic.push(e.data);
                  topicSource.onopen = () => window.r.topicOpens++;
                  const connect = () => {
                    const ws = new WebSocket(wsUrl);
                    const handle = (m) => window.r.ws.push(m.data);
                    ws.onopen = () => window.r.wsOpens++;
                    ws.onclose = (e) => { window.r.wsCloses.push(e.code); setTimeout(connect, 1000); };
                    eval(onMessage);
                  };
                  connect();
                  const getToken = async () => token;
                  const handle = (m) => window.r.poll.push(m.data);
                  eval(pollLoop + "\npoll(pollUrl, getToken, handle).catch((e) => window.r.stopped = String(e));");
                }
                """,
                new[]
                {
                    $"/?id={sseQueue}&access_token={token}",
                    // From the stream's start (a new stream: everything this test publishes), so that an event published as
                    // the subscription starts is not taken for one before it; a reconnect's Last-Event-ID wins over it.
                    $"/topics/{topic}?lastEventId=earliest&access_token={token}",
                    $"wss://127.0.0.1:{nginx.Port}/ws?id={wsQueue}&acks=client&access_token={token}",
                    $"{origin}/poll?id={pollQueue}",
                    token,
                    onMessage,
                    pollLoop,
                });
            foreach (var queue in new[] { sseQueue, wsQueue, pollQueue })
            {
                await amqp.UntilConsumersAsync(queue, 1, Timeout, $"the gateway consumes {queue}");
            }

            await Wait.UntilAsync(async () => await amqp.QueueExistsAsync($"topic.{topic}"), Timeout, "the topic's stream exists");
            var sent = new List<string>();
            async Task PublishAsync(string batch)
            {
                for (var i = 0; i < 3; i++)
                {
                    var body = $"{batch}-{i}";
                    sent.Add(body);
                    await amqp.PublishAsync(sseQueue, body);
                    await amqp.PublishAsync(wsQueue, body);
                    await amqp.PublishAsync(pollQueue, body);
                    await amqp.PublishAsync($"topic.{topic}", body);
                }
            }

            async Task EveryClientHasAsync(string stage)
            {
                var expected = System.Text.Json.JsonSerializer.Serialize(sent);
                try
                {
                    await page.WaitForFunctionAsync(
                        $"['sse', 'topic', 'ws', 'poll'].every((k) => JSON.stringify(window.r[k]) === JSON.stringify({expected}))",
                        null,
                        new PageWaitForFunctionOptions { Timeout = (float)Timeout.TotalMilliseconds });
                }
                catch (TimeoutException)
                {
                    Assert.Fail($"{stage}: expected every client to have {expected}, the page has {await page.EvaluateAsync<string>("JSON.stringify(window.r)")}\nnginx: {nginx.ErrorLog}");
                }
            }

            // A reload's old worker exits once what it serves has ended, which for streams kept open by heartbeats is
            // never: without worker_shutdown_timeout each reload left a worker with the old configuration behind.
            async Task ReloadAsync()
            {
                await nginx.ReloadAsync();
                var lingering = TimeSpan.FromSeconds(30);
                var since = System.Diagnostics.Stopwatch.StartNew();
                await Task.Delay(TimeSpan.FromSeconds(1));
                while (nginx.ShuttingDownWorkers().Count > 0)
                {
                    Assert.True(
                        since.Elapsed < lingering,
                        $"nginx's old worker ({string.Join(", ", nginx.ShuttingDownWorkers())}) still serves the streams of before the reload after {lingering.TotalSeconds} s");
                    await Task.Delay(TimeSpan.FromMilliseconds(250));
                }
            }

            await PublishAsync("before");
            await EveryClientHasAsync("before the reload");
            await ReloadAsync();
            await PublishAsync("after-first");
            await EveryClientHasAsync("after the first reload");
            await ReloadAsync();
            await PublishAsync("after-second");
            await EveryClientHasAsync("after the second reload");
            Assert.Equal("null", await page.EvaluateAsync<string>("JSON.stringify(window.r.stopped)"));

            // Each client was cut by the old worker's end and came back by itself through the new one, twice.
            var state = await page.EvaluateAsync<string>("JSON.stringify(window.r)");
            Assert.True(await page.EvaluateAsync<bool>("window.r.sseOpens >= 3 && window.r.topicOpens >= 3 && window.r.wsOpens >= 3"), state);
        }
        finally
        {
            await context.CloseAsync();
            foreach (var queue in new[] { sseQueue, wsQueue, pollQueue, $"topic.{topic}" })
            {
                await amqp.DeleteQueueAsync(queue);
            }
        }
    }
}
