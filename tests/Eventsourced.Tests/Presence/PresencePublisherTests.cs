using System.Security.Claims;
using System.Text;
using Eventsourced.Presence;

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
}
