using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Gateways;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application that maps observability endpoints of its own (prometheus-net's <c>MapMetrics()</c>, its own health
/// checks) at the gateway's default paths next to <c>MapEventsourcedObservability()</c>: its own answer there, never a 500
/// for an ambiguous route, and the log says once which key to move.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedObservabilityTests(BrokerFixture broker)
{
    [Fact]
    public async Task TheApplicationsOwnEndpointsAtTheSamePaths_Answer_AndTheClashIsLoggedOncePerKey()
    {
        var log = new CollectedLog();
        await using var app = await StartAsync(log, app =>
        {
            app.MapMetrics();
            app.MapGet("/readyz", () => "the application's own readiness");
            app.MapEventsourcedObservability();
        });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        for (var i = 0; i < 3; i++)
        {
            using var metrics = await client.GetAsync("/metrics");
            var text = await metrics.Content.ReadAsStringAsync();
            Assert.True(metrics.StatusCode == HttpStatusCode.OK, $"/metrics: {(int)metrics.StatusCode} {text}");
            // prometheus-net's default registry, not the gateway's.
            Assert.Contains("process_", text, StringComparison.Ordinal);
            Assert.DoesNotContain("eventsourced_", text, StringComparison.Ordinal);

            using var ready = await client.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("the application's own readiness", await ready.Content.ReadAsStringAsync());
        }

        // The gateway's own endpoints at paths nobody else took still answer.
        using (var live = await client.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        var shadowed = log.Entries.Where(e => e.EventId == 118).Select(e => e.Message).ToList();
        Assert.Equal(2, shadowed.Count);
        Assert.Contains("give metrics.path another path", Assert.Single(shadowed, m => m.Contains(" at /metrics too", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("give health.ready another path", Assert.Single(shadowed, m => m.Contains(" at /readyz too", StringComparison.Ordinal)), StringComparison.Ordinal);

        // The start's log said "metrics at /metrics" as if the gateway's metrics answered there, before any scrape.
        var started = Assert.Single(log.Entries, e => e.EventId == 400).Message;
        Assert.Contains("metrics at /metrics (the application's own endpoint answers there: give metrics.path another path)", started, StringComparison.Ordinal);
        Assert.Contains("readiness at /readyz (the application's own endpoint answers there: give health.ready another path)", started, StringComparison.Ordinal);
        Assert.Contains("liveness at /healthz,", started, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheApplicationsOwnHealthChecks_DoNotRunTheGatewaysBrokerCheck()
    {
        // The broker check was one of the application's health checks: its own liveness endpoint, mapped without a predicate
        // as ASP.NET Core's documentation shows it, answered 503 while the broker was down (an orchestrator restarts it).
        var closedBroker = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/";
        await using var app = await EmbeddingApp.StartAsync(closedBroker, [], builder => builder.Services.AddHealthChecks(), app =>
        {
            app.MapHealthChecks("/app-health");
            app.MapEventsourcedObservability();
        });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using (var own = await client.GetAsync("/app-health"))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
            Assert.Equal("Healthy", await own.Content.ReadAsStringAsync());
        }

        // The gateway's readiness still runs it, and its liveness does not.
        using (var ready = await client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.StartsWith("Unhealthy\nbroker: Unhealthy: no broker connection", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Contains("no-store", ready.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        }

        using (var live = await client.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal("Healthy\n", await live.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task WithoutAClash_TheGatewaysMetricsAnswer_AndNothingIsLogged()
    {
        var log = new CollectedLog();
        await using var app = await StartAsync(log, app =>
        {
            app.MapMetrics("/app-metrics");
            app.MapEventsourcedObservability();
        });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        var text = await client.GetStringAsync("/metrics");
        Assert.Contains("eventsourced_", text, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Entries, e => e.EventId == 118);
        Assert.Contains("metrics at /metrics", Assert.Single(log.Entries, e => e.EventId == 400).Message, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Entries, e => e.EventId == 403);
    }

    [Fact]
    public async Task WithoutMapEventsourcedObservability_TheLogSaysTheyAreNotServed_NotWhereTheyWouldBe()
    {
        // examples/aspnetcore maps the stream only: the start's log said "metrics at /metrics, liveness at /healthz", and a
        // probe or scraper set up from it got 404s.
        var log = new CollectedLog();
        await using var app = await StartAsync(log, app => app.MapEventsourced("/events"));
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using (var live = await client.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.NotFound, live.StatusCode);
        }

        Assert.DoesNotContain(log.Entries, e => e.EventId == 400);
        Assert.Contains("MapEventsourcedObservability()", Assert.Single(log.Entries, e => e.EventId == 403).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A method the metrics, debug and health endpoints do not take is refused as the gateway's own program refuses it:
    /// <c>405</c> with its reason and <c>Allow</c>, and, with <c>metrics.token</c>, the token's <c>401</c> whatever the
    /// method. Embedded, it was routing's empty <c>405</c> (no reason), and with <c>Allow: GET, HEAD</c> it told a client
    /// without the token that the path is served.
    /// </summary>
    [Fact]
    public async Task AMethodTheyDoNotTake_IsRefusedWithItsReason_AndWithoutTheTokenIsTheTokens401()
    {
        await using var app = await EmbeddingApp.StartAsync(broker.AmqpUrl, [("metrics:token", "a-metrics-token-of-some-length")], null, app =>
        {
            app.MapGet("/hello", () => "hello");
            app.MapEventsourcedObservability();
        });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        foreach (var method in new[] { "POST", "DELETE", "OPTIONS", "FOO" })
        {
            foreach (var path in new[] { "/metrics", "/debug/vars" })
            {
                using var anonymous = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
                Assert.True(anonymous.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} without the token: {(int)anonymous.StatusCode}");
                Assert.False(anonymous.Content.Headers.Contains("Allow"), $"{method} {path} without the token names the methods");
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                request.Headers.Authorization = new("Bearer", "a-metrics-token-of-some-length");
                using var refused = await client.SendAsync(request);
                AssertMethodNotAllowed(refused, $"{method} {path}");
            }

            foreach (var path in new[] { "/healthz", "/readyz" })
            {
                using var refused = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
                AssertMethodNotAllowed(refused, $"{method} {path}");
            }
        }

        // The endpoints themselves, and the application's own, as they were.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
        {
            request.Headers.Authorization = new("Bearer", "a-metrics-token-of-some-length");
            using var metrics = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        using (var live = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/healthz")))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        Assert.Equal("hello", await client.GetStringAsync("/hello"));
    }

    /// <summary>
    /// An application whose fallback policy requires a signed-in user (its cookie's sign-in page for everyone else). A probe
    /// cannot sign in: the health probes were sent to the sign-in page (a 302 that a kubelet follows to a 200, ready whatever the
    /// broker), and a scrape with <c>metrics.token</c>'s token was refused by the application's own scheme. The probes are open
    /// to everyone as they are in the gateway's program; the metrics with a token are the token's to guard; without one,
    /// the application's policy holds.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UnderTheApplicationsFallbackPolicy_TheProbesAnswer_TheMetricsAreTheirTokensOrThePolicys(bool withToken)
    {
        const string Token = "a-metrics-token-of-some-length";
        await using var app = await EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            withToken ? [("metrics:token", Token)] : [],
            RequireSignedInUsers,
            app =>
            {
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapGet("/hello", () => "hello");
                app.MapEventsourcedObservability();
            });
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Urls.Single()) };

        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            using var probe = await client.GetAsync(path);
            Assert.True(probe.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)probe.StatusCode} {probe.Headers.Location}");
            using var refused = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, path));
            AssertMethodNotAllowed(refused, $"DELETE {path}");
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
        {
            request.Headers.Authorization = new("Bearer", Token);
            using var metrics = await client.SendAsync(request);
            Assert.True(
                metrics.StatusCode == (withToken ? HttpStatusCode.OK : HttpStatusCode.Redirect),
                $"GET /metrics with the token, token {(withToken ? "set" : "not set")}: {(int)metrics.StatusCode}");
        }

        using (var anonymous = await client.GetAsync("/metrics"))
        {
            Assert.True(
                anonymous.StatusCode == (withToken ? HttpStatusCode.Unauthorized : HttpStatusCode.Redirect),
                $"GET /metrics without the token, token {(withToken ? "set" : "not set")}: {(int)anonymous.StatusCode}");
        }

        // The application's own endpoints, as its policy says.
        using var hello = await client.GetAsync("/hello");
        Assert.Equal(HttpStatusCode.Redirect, hello.StatusCode);
    }

    /// <summary>The application's sign-in (a cookie scheme) and a fallback policy that every endpoint without its own requires.</summary>
    private static void RequireSignedInUsers(WebApplicationBuilder builder)
    {
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie();
        builder.Services.AddAuthorization(o => o.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
    }

    /// <summary>
    /// README: what <c>MapEventsourced...</c> returns takes <c>AllowAnonymous()</c> as any endpoint does: under the application's
    /// fallback policy the stream and its preflight are then the gateway's to answer (its own refusals, with their reasons),
    /// and without it the policy's sign-in redirect answers first.
    /// </summary>
    [Fact]
    public async Task UnderTheApplicationsFallbackPolicy_AStreamMappedAllowAnonymous_IsTheGatewaysToAnswer()
    {
        await using var app = await EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [],
            RequireSignedInUsers,
            app =>
            {
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapEventsourced("/events").AllowAnonymous();
                app.MapEventsourcedLongPolling("/poll");
            });
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(app.Urls.Single()) };

        using (var refused = await client.GetAsync("/events"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("missing query parameter 'id'", refused.Headers.GetValues("X-Status-Reason").Single());
        }

        using (var preflight = new HttpRequestMessage(HttpMethod.Options, "/events?id=42"))
        {
            preflight.Headers.TryAddWithoutValidation("Origin", "https://app.example");
            preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Method", "GET");
            using var answer = await client.SendAsync(preflight);
            Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        }

        using var poll = await client.GetAsync("/poll");
        Assert.Equal(HttpStatusCode.Redirect, poll.StatusCode);
    }

    private static void AssertMethodNotAllowed(HttpResponseMessage response, string what)
    {
        Assert.True(response.StatusCode == HttpStatusCode.MethodNotAllowed, $"{what}: {(int)response.StatusCode}");
        Assert.Equal("method not allowed", response.Headers.TryGetValues("X-Status-Reason", out var reason) ? reason.Single() : null);
        Assert.Equal(["GET", "HEAD"], response.Content.Headers.Allow.Order(StringComparer.Ordinal));
    }

    private Task<WebApplication> StartAsync(CollectedLog log, Action<WebApplication> map) =>
        EmbeddingApp.StartAsync(broker.AmqpUrl, [], builder => builder.Logging.AddProvider(log), map);
}
