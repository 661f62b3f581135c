using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application embedding the gateway whose pipeline has <c>UseOutputCache</c> with a base policy for every GET (as
/// ASP.NET Core's documentation shows it): the gateway's endpoints stay out of that cache. They did not: a stream that
/// ended was stored and replayed, without a subscription, to the next request for the same URL (another user's messages
/// included, when the token is a cookie), and a readiness probe stayed as it was when first asked.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedOutputCacheTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(EmbeddedOutputCacheTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task WithABasePolicyForEveryGet_AStreamThatEnded_IsNotReplayed_TheNextOneSubscribes()
    {
        var queue = broker.UniqueQueueName(nameof(EmbeddedOutputCacheTests));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await using var app = await EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [],
            builder => builder.Services.AddOutputCache(cache => cache.AddBasePolicy(policy => policy.Expire(TimeSpan.FromMinutes(1)))),
            app =>
            {
                app.UseOutputCache();
                app.MapEventsourced("/events");
                app.MapEventsourcedObservability();
            });
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };

        await _amqp.PublishAsync(queue, "first");
        using (var first = await client.GetAsync($"/events?id={queue}", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal("first", await NextDataAsync(first));
        }

        // The first stream has ended (its client left): the gateway lets go of the queue, and the cache would store it now.
        await _amqp.UntilConsumersAsync(queue, 0, Timeout, "the first stream's consumer to go");
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        await _amqp.PublishAsync(queue, "second");

        using (var second = await client.GetAsync($"/events?id={queue}", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
            Assert.False(second.Headers.Age.HasValue, $"the stream came from the output cache (Age: {second.Headers.Age})");
            Assert.Equal("second", await NextDataAsync(second));
        }

        foreach (var path in new[] { "/readyz", "/metrics" })
        {
            (await client.GetAsync(path)).Dispose();
            using var again = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            Assert.False(again.Headers.Age.HasValue, $"{path} came from the output cache (Age: {again.Headers.Age})");
        }

        await _amqp.DeleteQueueAsync(queue);
    }

    /// <summary>The next event's data; null when the response ends first.</summary>
    private static async Task<string?> NextDataAsync(HttpResponseMessage response)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(Timeout);
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                return line["data: ".Length..];
            }
        }

        return null;
    }
}
