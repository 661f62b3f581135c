using System.Security.Claims;
using System.Text;
using Eventsourced.Broker;
using Eventsourced.Presence;
using Eventsourced.Tests.Metrics;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Presence;

public sealed class PresencePublisherTests
{
    private static readonly DateTimeOffset Time = new(2026, 12, 2, 10, 30, 15, 250, TimeSpan.Zero);

    [Fact]
    public void Json_HasEveryFieldSubjectNullWithoutToken()
    {
        var json = Encoding.UTF8.GetString(PresencePublisher.Json(new PresenceEvent("subscribed", "topic", "prices \"eu\"", null, "gw/12", Time)));

        Assert.Equal("""{"event":"subscribed","kind":"topic","name":"prices \u0022eu\u0022","subject":null,"instance":"gw/12","time":"2026-12-02T10:30:15.250Z"}""", json);
    }

    [Fact]
    public void Subject_FromAnAuthenticatedUsersSubClaim()
    {
        var anonymous = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "forged")]));
        var token = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "user-42")], "Bearer"));
        var mapped = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "user-7")], "Bearer"));

        Assert.Null(PresencePublisher.Subject(null));
        Assert.Null(PresencePublisher.Subject(anonymous));
        Assert.Equal("user-42", PresencePublisher.Subject(token));
        Assert.Equal("user-7", PresencePublisher.Subject(mapped));
    }

    [Fact]
    public void RoutingKey_EventKindName_WithoutTheNameWhenTooLong()
    {
        Assert.Equal("unsubscribed.queue.42", PresencePublisher.RoutingKey(new PresenceEvent("unsubscribed", "queue", "42", null, "i", Time)));
        Assert.Equal("subscribed.queue", PresencePublisher.RoutingKey(new PresenceEvent("subscribed", "queue", new string('é', 130), null, "i", Time)));
    }

    /// <summary>
    /// An event that finds no publishing connection is dropped, and the pool says why (event 206, then 207); the event
    /// 610 it also wrote said the same outage twice.
    /// </summary>
    [Fact]
    public async Task NoPublishingConnection_IsTheBrokerPoolsEvent206_Alone()
    {
        var logger = new FakeLogger<PresencePublisher>();
        var poolLogger = new FakeLogger<BrokerPool>();
        await using var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, new TestMetrics().Gateway, poolLogger);
        var options = Options.Create(new PresenceOptions { Exchange = "presence" });
        await using var publisher = new PresencePublisher(options, pool, new TestMetrics().Gateway, TimeProvider.System, logger);
        await publisher.StartAsync(CancellationToken.None);

        publisher.Subscribed("queue", "42", null);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await publisher.StopAsync(patience.Token);

        Assert.False(patience.IsCancellationRequested, "the event was not handled within 30 s");
        Assert.Empty(logger.Collector.GetSnapshot());
        var line = Assert.Single(poolLogger.Collector.GetSnapshot(), r => r.Id.Id == 206).Message;
        Assert.Contains("WebSocket clients' publishes and presence events fail", line, StringComparison.Ordinal);
    }
}
