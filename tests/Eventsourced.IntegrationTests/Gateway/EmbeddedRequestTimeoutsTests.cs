using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application embedding the gateway whose pipeline has <c>UseRequestTimeouts</c> with a default policy for every
/// request (as ASP.NET Core's documentation shows it, here 1 s): the gateway's endpoints are left out of it, since a stream
/// or a waiting poll lives longer than any request of the application's own. They were not: an event stream ended after the
/// timeout without a word (an EventSource reconnected every second), and a poll still waiting was answered <c>200</c> with
/// an empty body, not the JSON array every poll's answer is.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedRequestTimeoutsTests(BrokerFixture broker)
{
    private static readonly TimeSpan AppTimeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task WithADefaultTimeoutForEveryRequest_AWaitingPoll_IsAnsweredWithAnEmptyArray_AfterPollWait()
    {
        await using var app = await StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(20) };

        var started = DateTime.UtcNow;
        using var poll = await client.GetAsync($"/poll?id={broker.UniqueQueueName("emb-rt-poll")}");
        var took = DateTime.UtcNow - started;

        Assert.Equal(HttpStatusCode.OK, poll.StatusCode);
        Assert.Equal("[]", await poll.Content.ReadAsStringAsync());
        Assert.True(took >= TimeSpan.FromSeconds(2.5), $"the poll was answered after {took.TotalSeconds:0.0} s, before poll.wait (3 s)");
    }

    [Fact]
    public async Task WithADefaultTimeoutForEveryRequest_AnEventStream_OutlivesIt()
    {
        await using var app = await StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout.InfiniteTimeSpan };

        using var stream = await client.GetAsync($"/events?id={broker.UniqueQueueName("emb-rt-sse")}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        using var watch = new CancellationTokenSource(AppTimeout * 4);
        try
        {
            while (await reader.ReadLineAsync(watch.Token) is { } line)
            {
                Assert.DoesNotContain("stream ended", line, StringComparison.Ordinal);
            }

            Assert.Fail($"the event stream ended within {(AppTimeout * 4).TotalSeconds} s (the application's request timeout is {AppTimeout.TotalSeconds} s)");
        }
        catch (OperationCanceledException) when (watch.IsCancellationRequested)
        {
            // Still open when the watch ended: as it should be.
        }
    }

    private Task<WebApplication> StartAsync() =>
        EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [("poll:wait", "3")],
            builder => builder.Services.AddRequestTimeouts(timeouts => timeouts.DefaultPolicy = new RequestTimeoutPolicy { Timeout = AppTimeout }),
            app =>
            {
                app.UseRequestTimeouts();
                app.MapEventsourced("/events");
                app.MapEventsourcedLongPolling("/poll");
            });
}
