using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Gateways;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application embedding the gateway below a path of its own (<c>MapGroup</c>, <c>UsePathBase</c>), or without some
/// transport: the reasons that send a client elsewhere name where the application mapped that endpoint, or that it is not
/// served, never the configured path where nothing answers.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedPathsTests(BrokerFixture broker)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BelowAPathOfItsOwn_TheReasons_NameWhereTheEndpointsAre(bool pathBase)
    {
        await using var app = await StartAsync(routes =>
        {
            routes.MapEventsourced("/");
            routes.MapEventsourcedTopics("/topics/");
            routes.MapEventsourcedWebSockets("/ws");
            routes.MapEventsourcedLongPolling("/poll");
        }, pathBase);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        Assert.Equal(
            "not a WebSocket endpoint: this path serves the event stream; WebSockets are at /push/ws",
            await RefusalAsync(client, "/push/events?id=q", HttpStatusCode.BadRequest, webSocket: true));
        Assert.Equal(
            "not a WebSocket endpoint: this path serves long-polls; WebSockets are at /push/ws",
            await RefusalAsync(client, "/push/poll?id=q", HttpStatusCode.BadRequest, webSocket: true));
        Assert.Equal(
            "no such endpoint: long-polls are served at /push/poll (queues); topics are not long-polled, stream them from /push/topics/NAME",
            await RefusalAsync(client, "/push/poll/topics/news", HttpStatusCode.NotFound));
        Assert.Equal(
            "no such endpoint: WebSockets are served at /push/ws (topics at /push/ws/topics/NAME)",
            await RefusalAsync(client, "/push/ws/x", HttpStatusCode.NotFound));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BelowAPathOfItsOwn_TheObservabilityEndpointsAnswer_SpeltExactlyOnly(bool pathBase)
    {
        // The exact-spelling check compared the request with the configured path alone (/metrics), not with the route the
        // application mapped (/push/metrics): below a group every probe and scrape was refused by it, and went to the stream;
        // and the start's log named /metrics.
        var log = new CollectedLog();
        await using var app = await StartAsync(routes =>
        {
            routes.MapEventsourced("/");
            routes.MapEventsourcedObservability();
        }, pathBase, log);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using (var metrics = await client.GetAsync("/push/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("eventsourced_", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        foreach (var target in new[] { "/push/debug/vars", "/push/healthz", "/push/readyz" })
        {
            using var response = await client.GetAsync(target);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{target}: {(int)response.StatusCode}");
        }

        // Spelt otherwise, they are paths of the stream below /push/, as without a prefix (a group's prefix too: a proxy's
        // case-sensitive rule for /push/metrics does not see /PUSH/metrics).
        foreach (var target in pathBase ? ["/push/METRICS", "/push/metrics/"] : new[] { "/push/METRICS", "/push/metrics/", "/PUSH/metrics" })
        {
            using var response = await client.GetAsync(target);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{target}: {(int)response.StatusCode}");
        }

        // A path base is the request's, unknown at start: the log names the paths below it.
        Assert.Equal(
            pathBase
                ? "Observability: metrics at /metrics, debug vars at /debug/vars, liveness at /healthz, readiness at /readyz"
                : "Observability: metrics at /push/metrics, debug vars at /push/debug/vars, liveness at /push/healthz, readiness at /push/readyz",
            Assert.Single(log.Entries, e => e.EventId == 400).Message);
    }

    [Fact]
    public async Task WithoutTheWebSocketEndpoint_AnUpgradeIsToldWebSocketsAreNotServed()
    {
        await using var app = await StartAsync(routes => routes.MapEventsourced("/events"), pathBase: false);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        Assert.Equal(
            "not a WebSocket endpoint: this path serves the event stream; WebSockets are not served here",
            await RefusalAsync(client, "/push/events?id=q", HttpStatusCode.BadRequest, webSocket: true));
    }

    [Fact]
    public async Task ConventionsOnTheWebSocketEndpoint_HoldForItsTopicsToo()
    {
        // RequireHost stands for any convention an application adds (RequireAuthorization, RequireCors, ...): a host no
        // request names leaves neither endpoint matched.
        await using var app = await StartAsync(routes => routes.MapEventsourcedWebSockets("/ws").RequireHost("elsewhere.example"), pathBase: false);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        foreach (var target in new[] { "/push/ws?id=q", "/push/ws/topics/news" })
        {
            using var response = await client.GetAsync(target);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{target}: {(int)response.StatusCode}");
        }
    }

    private static async Task<string> RefusalAsync(HttpClient client, string target, HttpStatusCode expected, bool webSocket = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, target);
        if (webSocket)
        {
            request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
            request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        return response.Headers.GetValues("X-Status-Reason").Single();
    }

    private Task<WebApplication> StartAsync(Action<IEndpointRouteBuilder> map, bool pathBase, CollectedLog? log = null) =>
        EmbeddingApp.StartAsync(broker.AmqpUrl, [], log is null ? null : builder => builder.Logging.AddProvider(log), app =>
        {
            if (pathBase)
            {
                // Routing after the path base, as ASP.NET Core wants it (else a catch-all stream matches /push/poll first).
                app.UsePathBase("/push");
                app.UseRouting();
                map(app);
            }
            else
            {
                map(app.MapGroup("/push"));
            }
        });
}
