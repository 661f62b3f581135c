using System.Security.Claims;
using Eventsourced.Authentication;
using Eventsourced.Authorization;
using Eventsourced.Consuming;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Authentication;

public sealed class SubscriberPermissionsTests
{
    private static SubscriberPermissions Permissions(bool keys = true, string pattern = "${query:id}", Action<AuthOptions>? configure = null)
    {
        var auth = new AuthOptions();
        if (keys)
        {
            auth.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
        }

        configure?.Invoke(auth);
        return new SubscriberPermissions(Options.Create(auth), Options.Create(new QueueOptions { Pattern = pattern }));
    }

    private static ClaimsPrincipal User(params (string Type, string Value)[] claims) =>
        new(new ClaimsIdentity(claims.Select(c => new Claim(c.Type, c.Value)), "Bearer"));

    [Fact]
    public void WithoutKeys_EverythingIsAllowed()
    {
        var permissions = Permissions(keys: false);

        Assert.True(permissions.MayRead(new ClaimsPrincipal(), "queue", "anything"));
        Assert.True(permissions.MayPublish(new ClaimsPrincipal(), "anything"));
    }

    [Fact]
    public void Sender_IsTheTokensSub_OnlyWithTokens()
    {
        Assert.Equal("alice", Permissions().Sender(User(("sub", "alice"), ("name", "Mallory"))));
        Assert.Null(Permissions().Sender(User(("name", "alice"))));
        Assert.Null(Permissions().Sender(User(("sub", ""))));
        // Without keys nobody is verified: a principal an embedding application put there names no sender.
        Assert.Null(Permissions(keys: false).Sender(User(("sub", "alice"))));
        Assert.True(Permissions().IdentifiesSubscribers);
        Assert.False(Permissions(keys: false).IdentifiesSubscribers);
    }

    [Fact]
    public void Sender_OfAnApplicationUser_IsTheNameIdentifierItsSubWasMappedTo_ATokensIsNot()
    {
        // ASP.NET Core's sign-ins map "sub" to the name identifier by default: without it, every publish of such a user
        // would be refused as coming from nobody. A verified token names its sender by "sub" alone.
        var applicationUser = Permissions(keys: false, configure: a => a.ApplicationUser = true);
        Assert.True(applicationUser.IdentifiesSubscribers);
        Assert.Equal("alice", applicationUser.Sender(User((ClaimTypes.NameIdentifier, "alice"))));
        Assert.Equal("bob", applicationUser.Sender(User(("sub", "bob"), (ClaimTypes.NameIdentifier, "alice"))));
        Assert.Null(applicationUser.Sender(User((ClaimTypes.NameIdentifier, ""))));
        Assert.Null(Permissions().Sender(User((ClaimTypes.NameIdentifier, "alice"))));
    }

    [Fact]
    public void Refusals_OfAnApplicationUser_NameTheSignedInUser_ATokensNameTheToken()
    {
        // No token is read with auth.application_user: a refusal naming one sent the application's developers looking for it.
        // Told apart by the principal, as every refusal and claim reason tells them (the application's cookie sign-in, a verified token).
        var applicationUser = Permissions(keys: false, configure: a => a.ApplicationUser = true);
        var signedIn = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "alice"), new Claim("topics", "news")], "Cookies"));
        var token = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "alice"), new Claim("topics", "news")], SubscriberAuthenticator.TokenAuthenticationType));

        Assert.Equal("signed-in user does not permit reading topic 'other': its claim 'topics' does not list it", applicationUser.ReadRefusal(signedIn, "topic", "other"));
        Assert.Equal("signed-in user does not permit publishing to 'lobby': its claim 'publish' is missing or empty", applicationUser.PublishRefusal(signedIn, "lobby"));
        Assert.Equal("token does not permit reading topic 'other': its claim 'topics' does not list it", Permissions().ReadRefusal(token, "topic", "other"));
        Assert.Equal("token does not permit publishing to 'lobby': its claim 'publish' is missing or empty", Permissions().PublishRefusal(token, "lobby"));
        Assert.Equal("token", SubscriberAuthenticator.HolderOf(new ClaimsPrincipal(new ClaimsIdentity())));
    }

    [Theory]
    [InlineData("user-42", "user-42", true)]
    [InlineData("user-42", "user-43", false)]
    [InlineData("user-42", "USER-42", false)]
    [InlineData("team-7-*", "team-7-news", true)]
    [InlineData("team-7-*", "team-7-", true)]
    [InlineData("team-7-*", "team-8-news", false)]
    [InlineData("*-alerts", "ops-alerts", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("*", "whatever", true)]
    public void MayRead_QueuesClaim_ListsNamesAndPatterns(string entry, string name, bool allowed) =>
        Assert.Equal(allowed, Permissions().MayRead(User(("queues", "other"), ("queues", entry)), "queue", name));

    [Fact]
    public void MayRead_TokenWithoutTheClaim_IsRefusedForNamesFromTheRequest() =>
        Assert.False(Permissions().MayRead(User(("sub", "42")), "queue", "42"));

    [Fact]
    public void MayRead_TokenWithoutTheClaim_ReadsWhenThePatternTakesTheNameFromTheToken()
    {
        var permissions = Permissions(pattern: "user-${claim:sub}");

        Assert.True(permissions.MayRead(User(("sub", "42")), "queue", "user-42"));
        // A token that lists names is held to them, also then.
        Assert.False(permissions.MayRead(User(("sub", "42"), ("queues", "user-1")), "queue", "user-42"));
    }

    [Fact]
    public void MayRead_ConfiguredClaimName_IsTheOneRead()
    {
        var permissions = Permissions(configure: o => o.ReadClaims["queue"] = "rooms");

        Assert.True(permissions.MayRead(User(("rooms", "r1")), "queue", "r1"));
        Assert.False(permissions.MayRead(User(("queues", "r1")), "queue", "r1"));
    }

    [Fact]
    public void MayRead_KindWithoutAClaim_AnyValidTokenReads()
    {
        var permissions = Permissions(configure: o => o.ReadClaims["queue"] = "");

        Assert.True(permissions.MayRead(User(("sub", "1")), "queue", "any"));
        Assert.True(Permissions(configure: o => o.ReadClaims["topic"] = "").MayRead(User(("sub", "1")), "topic", "news"));
    }

    [Fact]
    public void MayRead_Topic_ByDefaultTheTopicsClaimListsThem()
    {
        var permissions = Permissions();

        Assert.True(permissions.MayRead(User(("topics", "prices.*")), "topic", "prices.eu"));
        Assert.False(permissions.MayRead(User(("topics", "prices.*")), "topic", "news"));
        Assert.False(permissions.MayRead(User(("sub", "1"), ("queues", "*")), "topic", "news"));
    }

    [Fact]
    public void MayPublish_PublishClaim_ListsDestinations()
    {
        var permissions = Permissions();

        Assert.True(permissions.MayPublish(User(("publish", "chat-*")), "chat-7"));
        Assert.False(permissions.MayPublish(User(("publish", "chat-*")), "orders"));
        Assert.False(permissions.MayPublish(User(("sub", "1")), "chat-7"));
        Assert.True(Permissions(configure: o => o.PublishClaim = "").MayPublish(User(("sub", "1")), "orders"));
    }
}
