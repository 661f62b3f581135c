using System.Net;
using System.Threading.RateLimiting;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>limits.*</c> in an application embedding the gateway as the README shows (<c>AddEventsourced</c>,
/// <c>MapEventsourced</c>): enforced whether or not the application's pipeline has <c>UseRateLimiter</c>, and counted once
/// where it has.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedLimitsTests(BrokerFixture broker)
{
    [Fact]
    public async Task SubscribesPerSecond_WithoutUseRateLimiter_TheAttemptTooMany_Gets429()
    {
        await using var app = await StartAsync(useRateLimiter: false, ("limits:subscribes_per_second", "1"));
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using var first = await GetAsync(client, $"/events?id={broker.UniqueQueueName("emb-rate1")}");
        using var second = await GetAsync(client, $"/events?id={broker.UniqueQueueName("emb-rate2")}");
        using var topic = await GetAsync(client, $"/topics/{broker.UniqueQueueName("emb-rate3")}");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("too many subscribe attempts from this address", second.Headers.GetValues("X-Status-Reason").Single());
        Assert.True(second.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.TooManyRequests, topic.StatusCode);
    }

    [Fact]
    public async Task Limits_WithUseRateLimiter_AreCountedOnce()
    {
        await using var app = await StartAsync(useRateLimiter: true, ("limits:subscribes_per_second", "2"), ("limits:streams_per_client", "2"));
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using var first = await GetAsync(client, $"/events?id={broker.UniqueQueueName("emb-once1")}");
        using var second = await GetAsync(client, $"/events?id={broker.UniqueQueueName("emb-once2")}");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
    }

    /// <summary>
    /// An application's global limiter counts the gateway's streams, each holding its lease for its whole life: with every
    /// lease held by streams, its own requests are refused, as it asked. The gateway's probes and metrics were refused as
    /// well (the limiter's 503), so an orchestrator restarted a gateway for having as many streams as the application allowed.
    /// </summary>
    [Fact]
    public async Task GlobalLimiter_HeldByStreams_ProbesAndMetricsStillAnswer()
    {
        await using var app = await EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [],
            builder => builder.Services.AddRateLimiter(limiter => limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(
                _ => RateLimitPartition.GetConcurrencyLimiter("all", _ => new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 }))),
            app =>
            {
                app.UseRateLimiter();
                app.MapGet("/hello", () => "hello");
                app.MapEventsourced("/events");
                app.MapEventsourcedObservability();
            });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        using var stream = await GetAsync(client, $"/events?id={broker.UniqueQueueName("emb-global")}");
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using (var own = await client.GetAsync("/hello"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, own.StatusCode);
        }

        foreach (var path in new[] { "/healthz", "/readyz", "/metrics", "/debug/vars" })
        {
            using var probe = await client.GetAsync(path);
            Assert.True(probe.StatusCode == HttpStatusCode.OK, $"{path}: {(int)probe.StatusCode}");
        }
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient client, string target) =>
        client.GetAsync(target, HttpCompletionOption.ResponseHeadersRead);

    private Task<WebApplication> StartAsync(bool useRateLimiter, params (string Key, string Value)[] settings) =>
        EmbeddingApp.StartAsync(broker.AmqpUrl, settings, configure: null, app =>
        {
            if (useRateLimiter)
            {
                app.UseRateLimiter();
            }

            app.MapEventsourced("/events");
            app.MapEventsourcedTopics("/topics/");
        });
}
