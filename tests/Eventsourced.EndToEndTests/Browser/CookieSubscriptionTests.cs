using Eventsourced.Configuration;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// <c>queue.pattern: ${cookie:sid}</c>: the page's own session cookie (set by its application for the parent
/// domain) names the queue, so the page opens <c>new EventSource(url, { withCredentials: true })</c> across origins.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class CookieSubscriptionTests(BrokerFixture broker, ChromiumFixture chromium, ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CookieSid_WithCredentialsAndTheReadmeCorsConfiguration_ReceivesMessages()
    {
        var queue = broker.UniqueQueueName(nameof(CookieSid_WithCredentialsAndTheReadmeCorsConfiguration_ReceivesMessages));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(await ReadmeConfigurationAsync(site.Origin));
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port), withCredentials: true, sessionCookie: queue));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await using var amqp = await broker.ConnectAsync(nameof(CookieSid_WithCredentialsAndTheReadmeCorsConfiguration_ReceivesMessages));
            await amqp.PublishAsync(queue, "for the cookie's owner");
            await amqp.PublishAsync(queue, "line one\nline two");

            await Harness.WaitUntilAsync(page, "h.events.length >= 2", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(["for the cookie's owner", "line one\nline two"], seen.Events);
            Assert.Equal(0, seen.Errors);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// A page of another site sending the visitor to the gateway (<c>window.location</c>): a top-level navigation carries
    /// the README's <c>SameSite=Lax</c> cookie but no <c>Origin</c>, and the gateway streamed the visitor's queue to a
    /// page no script could read, consuming it. Chromium marks it <c>Sec-Fetch-Site: cross-site</c>, which browsers send
    /// to HTTPS only: over HTTPS, as a gateway facing the internet is, refused (403). Nor does the browser's next request
    /// for the 403 page (its icon) consume anything.
    /// </summary>
    [Fact]
    public async Task CookieSid_AnotherSitesPageNavigatingToTheGatewayOverHttps_Is403_AndConsumesNothing()
    {
        var queue = broker.UniqueQueueName(nameof(CookieSid_AnotherSitesPageNavigatingToTheGatewayOverHttps_Is403_AndConsumesNothing));
        var directory = Directory.CreateTempSubdirectory("eventsourced-cookie-nav-");
        using var certificate = TestCertificate.Create();
        await using var site = await PageServer.StartAsync();
        await using var gateway = await StartHttpsGatewayAsync(certificate, directory, site);
        var gatewayUrl = $"https://{PageServer.GatewayHost}:{gateway.Port}/";
        await using var amqp = await broker.ConnectAsync(nameof(CookieSid_AnotherSitesPageNavigatingToTheGatewayOverHttps_Is403_AndConsumesNothing));
        await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await amqp.PublishAsync(queue, "for the cookie's owner only");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        try
        {
            var page = await VisitorPageAsync(browser, queue);
            // A page of another site (127.0.0.1 is not example.test), whose script sends the visitor to the gateway.
            await page.GotoAsync($"http://127.0.0.1:{site.Port}/token?sub=evil");
            var navigation = page.WaitForResponseAsync(r => r.Url.StartsWith(gatewayUrl, StringComparison.Ordinal), new() { Timeout = (float)Timeout.TotalMilliseconds });
            await page.EvaluateAsync($"location.href = '{gatewayUrl}'");
            var answer = await navigation;

            Assert.Equal(403, answer.Status);
            Assert.StartsWith("cookies are accepted from another site's page only", await answer.HeaderValueAsync("x-status-reason") ?? string.Empty, StringComparison.Ordinal);

            // The browser's own requests after the 403 page, from the gateway's origin with the visitor's cookie (its
            // /favicon.ico: Sec-Fetch-Site same-origin, Sec-Fetch-Dest image), consumed the message in some runs.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Equal(1u, await amqp.MessageCountAsync(queue));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A page of another site (http://127.0.0.1, not example.test; or https://evil.example.test, another origin of the
    /// gateway's site, whose requests carry the visitor's <c>SameSite=Lax</c> cookie everywhere) trying, in the visitor's real Chromium over HTTPS, every
    /// way a page can make the browser request the gateway without reading the answer: <c>&lt;link rel=prefetch&gt;</c>,
    /// <c>navigator.sendBeacon</c>, <c>fetch</c> with <c>mode: 'no-cors'</c> and credentials (the stream and <c>/poll</c>),
    /// an iframe, an image, a script, a form's <c>GET</c> and <c>POST</c> (into new windows) and <c>window.open</c>. None
    /// of them may consume the visitor's message: with the README's <c>SameSite=Lax</c> cookie only the top-level
    /// navigations carry it (refused: no <c>Origin</c>, <c>Sec-Fetch-Site: cross-site</c>, <c>Sec-Fetch-Dest: document</c>);
    /// with <c>SameSite=None</c> every request does (refused by <c>Sec-Fetch-Site</c> or <c>Sec-Fetch-Dest</c>). The
    /// browser's follow-up requests (the new windows' <c>/favicon.ico</c>) are waited for (3 s). What Chromium sent is
    /// written to the test's output.
    /// </summary>
    [Theory]
    [InlineData("cross-site", "Lax")]
    [InlineData("cross-site", "None")]
    [InlineData("same-site", "Lax")]
    public async Task CookieSid_AnotherSitesPageRequestingTheGatewayWithoutReadingIt_ConsumesNothing(string attacker, string sameSite)
    {
        var queue = broker.UniqueQueueName(nameof(CookieSid_AnotherSitesPageRequestingTheGatewayWithoutReadingIt_ConsumesNothing) + attacker + sameSite);
        var directory = Directory.CreateTempSubdirectory("eventsourced-cookie-vectors-");
        using var certificate = TestCertificate.Create();
        await using var site = attacker == "same-site" ? await PageServer.StartAsync(certificate.Certificate) : await PageServer.StartAsync();
        await using var gateway = await StartHttpsGatewayAsync(certificate, directory, site);
        var gatewayOrigin = $"https://{PageServer.GatewayHost}:{gateway.Port}";
        await using var amqp = await broker.ConnectAsync(nameof(CookieSid_AnotherSitesPageRequestingTheGatewayWithoutReadingIt_ConsumesNothing));
        await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await amqp.PublishAsync(queue, "for the cookie's owner only");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        var seen = new List<string>();
        try
        {
            var page = await VisitorPageAsync(browser, queue, sameSite == "None" ? SameSiteAttribute.None : SameSiteAttribute.Lax);
            page.Context.Response += async (_, response) =>
            {
                if (!response.Url.StartsWith(gatewayOrigin, StringComparison.Ordinal))
                {
                    return;
                }

                try
                {
                    var headers = await response.Request.AllHeadersAsync();
                    string Header(string name) => headers.TryGetValue(name, out var value) ? value : "-";
                    var line = $"{response.Request.Method} {response.Url[gatewayOrigin.Length..]} -> {response.Status} "
                        + $"(site {Header("sec-fetch-site")}, mode {Header("sec-fetch-mode")}, dest {Header("sec-fetch-dest")}, "
                        + $"origin {Header("origin")}, cookie {(Header("cookie").Contains("sid=", StringComparison.Ordinal) ? "sid" : "none")}) "
                        + (await response.HeaderValueAsync("x-status-reason") ?? string.Empty);
                    lock (seen)
                    {
                        seen.Add(line);
                    }
                }
                catch (PlaywrightException)
                {
                    // the page or its request went away
                }
            };

            // Another site (127.0.0.1 is not example.test), or another origin of the same site over HTTPS, whose subresource
            // requests carry a SameSite=Lax cookie (and are not third-party: Chromium's contexts here send no SameSite=None
            // cookie on another site's subresource requests, only on its navigations).
            page.Context.RequestFailed += (_, request) =>
            {
                if (request.Url.StartsWith(gatewayOrigin, StringComparison.Ordinal))
                {
                    lock (seen)
                    {
                        seen.Add($"{request.Method} {request.Url[gatewayOrigin.Length..]} ({request.ResourceType}) failed: {request.Failure}");
                    }
                }
            };

            await page.GotoAsync(attacker == "same-site" ? $"https://evil.{PageServer.SiteDomain}:{site.Port}/token?sub=evil" : $"http://127.0.0.1:{site.Port}/token?sub=evil");
            await page.EvaluateAsync("""
                (g) => {
                  const add = (tag, attributes, parent) => {
                    const element = document.createElement(tag);
                    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
                    (parent || document.body).appendChild(element);
                    return element;
                  };
                  add("link", { rel: "prefetch", href: g + "/prefetch" }, document.head);
                  navigator.sendBeacon(g + "/beacon", "x");
                  navigator.sendBeacon(g + "/poll", "x");
                  fetch(g + "/no-cors", { mode: "no-cors", credentials: "include" }).catch(() => {});
                  fetch(g + "/poll", { mode: "no-cors", credentials: "include" }).catch(() => {});
                  add("iframe", { src: g + "/iframe" });
                  add("img", { src: g + "/img" });
                  add("script", { src: g + "/script" });
                  for (const method of ["get", "post"]) {
                    const form = add("form", { method, action: g + "/form-" + method, target: "_blank" });
                    add("input", { type: "hidden", name: "x", value: "1" }, form);
                    form.submit();
                  }
                  window.open(g + "/window-open");
                }
                """, gatewayOrigin);

            await Wait.UntilAsync(() => Task.FromResult(Snapshot(seen).Any(l => l.Contains("/window-open", StringComparison.Ordinal))), Timeout, "window.open reaches the gateway");
            await Task.Delay(TimeSpan.FromSeconds(3)); // the new windows' /favicon.ico and anything else the browser follows up with
            var lines = Snapshot(seen);
            foreach (var line in lines)
            {
                output.WriteLine(line);
            }

            Assert.Equal(1u, await amqp.MessageCountAsync(queue));
            foreach (var path in new[] { "/prefetch", "/beacon", "/no-cors", "/poll", "/iframe", "/img", "/script", "/form-get", "/form-post", "/window-open" })
            {
                Assert.True(lines.Any(l => l.Contains($" {path}", StringComparison.Ordinal)), $"the browser did not request {path}");
            }

            Assert.Contains(lines, l => l.StartsWith("GET /window-open -> 403", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("GET /form-get?x=1 -> 403", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("-> 200", StringComparison.Ordinal));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static List<string> Snapshot(List<string> lines)
    {
        lock (lines)
        {
            return [.. lines];
        }
    }

    /// <summary>
    /// The dashboard of "Cookies across origins" over HTTPS, where Chromium sends <c>Sec-Fetch-Dest</c> (a plain-HTTP
    /// gateway never sees it): a page of https://app.example.test reads the cookie's queue through each way the README
    /// shows (an EventSource with credentials, a long-poll <c>fetch</c> with credentials, a WebSocket), and none of them is
    /// taken for a request that cannot read the stream.
    /// </summary>
    [Fact]
    public async Task CookieSid_APageOfTheSameSiteOverHttps_ReadsItsQueueByEventSourceLongPollAndWebSocket()
    {
        var queue = broker.UniqueQueueName(nameof(CookieSid_APageOfTheSameSiteOverHttps_ReadsItsQueueByEventSourceLongPollAndWebSocket));
        var directory = Directory.CreateTempSubdirectory("eventsourced-cookie-https-");
        using var certificate = TestCertificate.Create();
        await using var site = await PageServer.StartAsync(certificate.Certificate);
        await using var gateway = await StartHttpsGatewayAsync(certificate, directory, site, options => options.Poll.WaitSeconds = 1);
        var gatewayOrigin = $"https://{PageServer.GatewayHost}:{gateway.Port}";
        await using var amqp = await broker.ConnectAsync(nameof(CookieSid_APageOfTheSameSiteOverHttps_ReadsItsQueueByEventSourceLongPollAndWebSocket));
        await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await ChromiumFixture.LaunchAsync(playwright, certificate.SpkiHash);
        try
        {
            var page = await VisitorPageAsync(browser, queue);
            // The application's page, at an HTTPS origin of the site.
            await page.GotoAsync($"{site.Origin}/token?sub=dashboard");

            await amqp.PublishAsync(queue, "by EventSource");
            var viaEventSource = await page.EvaluateAsync<string>("""
                (url) => new Promise((resolve) => {
                  const source = window.reader = new EventSource(url, { withCredentials: true });
                  source.onmessage = (e) => resolve(e.data);
                  source.onerror = () => { source.close(); resolve("error"); };
                })
                """, gatewayOrigin + "/").WaitAsync(Timeout);
            Assert.Equal("by EventSource", viaEventSource);
            await AcknowledgedThenClosedAsync(page, queue);

            await amqp.PublishAsync(queue, "by WebSocket");
            var viaWebSocket = await page.EvaluateAsync<string>("""
                (url) => new Promise((resolve) => {
                  const socket = window.reader = new WebSocket(url);
                  socket.onmessage = (e) => resolve(JSON.parse(e.data).data);
                  socket.onclose = (e) => resolve(`closed ${e.code}`);
                })
                """, $"wss://{PageServer.GatewayHost}:{gateway.Port}/ws").WaitAsync(Timeout);
            Assert.Equal("by WebSocket", viaWebSocket);
            await AcknowledgedThenClosedAsync(page, queue);

            await amqp.PublishAsync(queue, "by long-poll");
            var viaPoll = await page.EvaluateAsync<string>("""
                async (url) => {
                  for (;;) {
                    const response = await fetch(url, { credentials: "include" });
                    if (!response.ok) return `${response.status} ${response.headers.get("X-Status-Reason")}`;
                    const messages = await response.json();
                    if (messages.length > 0) {
                      await fetch(`${url}?ack=${messages[messages.length - 1].id}`, { credentials: "include" });
                      return messages.map((m) => m.data).join();
                    }
                  }
                }
                """, gatewayOrigin + "/poll").WaitAsync(Timeout);
            Assert.Equal("by long-poll", viaPoll);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Waits until the broker has the page's message acknowledged, then closes the page's reader (a reader closed the
    /// moment its message came may get it again: at least once), and waits until the gateway has let go of the queue.
    /// Over HTTP/2 closing an EventSource resets its stream, not the connection: a message the gateway wrote to the
    /// stream before it saw the reset reached the browser's TCP, which acknowledged it, and the page never saw it (the
    /// next reader then waited for ever, a CI hang); so the next message is published only once no reader holds the queue.
    /// </summary>
    private async Task AcknowledgedThenClosedAsync(IPage page, string queue)
    {
        await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Messages == 0, Timeout, "the message is acknowledged");
        await page.EvaluateAsync("() => window.reader.close()");
        await Wait.UntilAsync(async () => (await broker.Rabbitmqctl.FindQueueAsync(queue))?.Consumers == 0, Timeout, "the closed reader's subscription ended");
    }

    /// <summary>The README's configuration for cookies across origins (below) over HTTPS with <paramref name="certificate"/>, for <paramref name="site"/>'s pages.</summary>
    private async Task<GatewayServer> StartHttpsGatewayAsync(TestCertificate certificate, DirectoryInfo directory, PageServer site, Action<GatewayOptions>? configure = null)
    {
        var (certificatePath, keyPath) = certificate.WriteTo(directory.FullName);
        var options = await ReadmeConfigurationAsync(site.Origin);
        options.Server.Tls = new(StringComparer.OrdinalIgnoreCase) { ["certificate"] = certificatePath, ["key"] = keyPath };
        configure?.Invoke(options);
        return await GatewayServer.StartAsync(options);
    }

    /// <summary>A page in a new context of <paramref name="browser"/> holding the visitor's session at the application, as its login set it: <c>sid</c> naming <paramref name="queue"/>.</summary>
    private static async Task<IPage> VisitorPageAsync(IBrowser browser, string queue, SameSiteAttribute sameSite = SameSiteAttribute.Lax)
    {
        var context = await browser.NewContextAsync();
        await context.AddCookiesAsync([new Cookie { Name = "sid", Value = queue, Domain = "." + PageServer.SiteDomain, Path = "/", HttpOnly = true, Secure = true, SameSite = sameSite }]);
        return await context.NewPageAsync();
    }

    /// <summary>
    /// The README's configuration for cookies across origins, read by the gateway's own loader from a
    /// file, with the page's origin; address and broker are this test's.
    /// </summary>
    private async Task<GatewayOptions> ReadmeConfigurationAsync(string pageOrigin)
    {
        var file = Path.Combine(Path.GetTempPath(), $"eventsourced-cookie-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(file, $"""
            queue:
              pattern: ${"{"}cookie:sid{"}"}
            header:
              cors:
                Access-Control-Allow-Origin: {pageOrigin}   # the page's origin: scheme, host and port
                Access-Control-Allow-Credentials: 'true'
            """);
        try
        {
            var options = ConfigLoader.Load(new ConfigSources([], file, EnvironmentPrefix: "EVENTSOURCED_COOKIE_TEST_NONE_")).Options;
            options.Server.Address = "127.0.0.1:0";
            options.Server.HeartbeatSeconds = 0;
            options.Broker.Node = [broker.AmqpUrl];
            options.Log.Level = "warning";
            return options;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// The browser refuses the response to the page, closes the EventSource and does not retry: the test above
    /// can fail. The gateway refuses it first (403: a subscriber's cookie from a page whose origin is not listed
    /// with credentials), so nothing is consumed for a page that could not read it; it used to answer 200 and
    /// acknowledge what it streamed. (<c>*</c> with credentials allowed, the other way to get this wrong, does not
    /// start: a configuration error.)
    /// </summary>
    [Theory]
    [InlineData("*", false, "must not be the wildcard")]
    [InlineData("page origin", false, "Access-Control-Allow-Credentials")]
    public async Task CookieSid_WithCredentialsAndWrongCors_BrowserBlocksTheStreamForGood(string allowOrigin, bool allowCredentials, string consoleHint)
    {
        var queue = broker.UniqueQueueName(nameof(CookieSid_WithCredentialsAndWrongCors_BrowserBlocksTheStreamForGood));
        await using var site = await PageServer.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, options =>
        {
            options.Queue.Pattern = "${cookie:sid}";
            options.Header.Cors["Access-Control-Allow-Origin"] = allowOrigin == "page origin" ? site.Origin : allowOrigin;
            if (allowCredentials)
            {
                options.Header.Cors["Access-Control-Allow-Credentials"] = "true";
            }
        });
        var page = await chromium.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => { lock (console) { console.Add(message.Text); } };
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port), withCredentials: true, sessionCookie: queue));
            await Harness.WaitUntilAsync(page, $"h.states.includes({HarnessState.Closed})", Timeout);

            await Task.Delay(TimeSpan.FromSeconds(4)); // past EventSource's 3 s reconnection delay: no retry comes
            await using var amqp = await broker.ConnectAsync(nameof(CookieSid_WithCredentialsAndWrongCors_BrowserBlocksTheStreamForGood));
            Assert.False(await amqp.QueueExistsAsync(queue), $"the gateway consumed {queue} for a page that cannot read it");

            var seen = await Harness.ReadAsync(page);
            Assert.Empty(seen.Events);
            Assert.Equal(0, seen.Opens);
            Assert.Equal([HarnessState.Closed], seen.States);
            lock (console)
            {
                Assert.Contains(console, text => text.Contains("CORS policy", StringComparison.Ordinal) && text.Contains(consoleHint, StringComparison.Ordinal));
            }
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
