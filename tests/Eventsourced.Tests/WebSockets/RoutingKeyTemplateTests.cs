using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.WebSockets;

public sealed class RoutingKeyTemplateTests
{
    [Theory]
    [InlineData("${to}", "lobby", "lobby")]
    [InlineData("chat.${to}", "lobby", "chat.lobby")]
    [InlineData("room.${query:room}.${to}.${cookie:sid}", "a b", "room.r1.a b.s9")]
    [InlineData("user.${claim:sub}.${to}", "lobby", "user.u42.lobby")]
    public void Resolve_FillsEveryPlaceholder(string template, string to, string expected)
    {
        Assert.True(RoutingKeyTemplate.Parse(template).TryResolve(to, Request(), out var key, out var reason), reason);
        Assert.Equal(expected, key);
    }

    [Theory]
    [InlineData("${to}", "", "empty destination")]
    [InlineData("${to}", "a\nb", "destination contains control characters")]
    [InlineData("topic.${to}", "lobby ", "destination starts or ends with a space")] // not the topic 'lobby', and looks like it
    [InlineData("topic.${to}", " lobby", "destination starts or ends with a space")]
    [InlineData("topic.${to}", " ", "destination starts or ends with a space")]
    [InlineData("${query:room}.${to}", "x", "query parameter 'room' starts or ends with a space", "?room=r1%20")]
    [InlineData("${query:other}.${to}", "x", "missing query parameter 'other'")]
    [InlineData("${cookie:other}.${to}", "x", "missing cookie 'other'")]
    [InlineData("${claim:role}.${to}", "x", "token has no claim 'role'")]
    [InlineData("${claim:team}.${to}", "x", "token claim 'team' has several values")]
    public void Resolve_Refuses_WithAReason(string template, string to, string expected, string query = "?room=r1")
    {
        Assert.False(RoutingKeyTemplate.Parse(template).TryResolve(to, Request(query: query), out _, out var reason));
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void Resolve_LongerThan255Bytes_IsRefused()
    {
        Assert.False(RoutingKeyTemplate.Parse("${to}").TryResolve(new string('é', 128), Request(), out _, out var reason));
        Assert.Equal("routing key longer than 255 bytes", reason);
        Assert.True(RoutingKeyTemplate.Parse("${to}").TryResolve(new string('e', 255), Request(), out _, out _));
    }

    [Theory]
    [InlineData("chat", "must contain ${to}, the destination the client names")]
    [InlineData("chat.${to", "unclosed '${' in '${to'")]
    [InlineData("${user}.${to}", "unknown placeholder '${user}' (use ${to}, ${query:NAME}, ${cookie:NAME} or ${claim:NAME})")]
    [InlineData("${query:}.${to}", "empty name in '${query:}'")]
    [InlineData("chat.${query:access_token}.${to}", "'${query:access_token}' reads the subscriber's token (auth.from_query): routing keys built from it would carry tokens to everyone who reads the exchange; build them from its claims (${claim:sub})")]
    [InlineData("chat.${query:ACCESS_TOKEN}.${to}", "'${query:ACCESS_TOKEN}' reads the subscriber's token (auth.from_query): routing keys built from it would carry tokens to everyone who reads the exchange; build them from its claims (${claim:sub})")]
    public void Parse_Bad_SaysWhy(string template, string expected) =>
        Assert.Equal(expected, Assert.Throws<FormatException>(() => RoutingKeyTemplate.Parse(template)).Message);

    [Theory]
    [InlineData("user.${claim:sub}.${to}", "a", "b.c", "a.b", "c")]
    [InlineData("chat.${to}.${claim:sub}", "c", "a.b", "b.c", "a")]
    [InlineData("chat-${to}-${claim:sub}", "c", "a-b", "b-c", "a")]
    [InlineData("${query:room}:${claim:sub}:${to}", "u", "x:y", "u:x", "y")]
    public void Resolve_AClaimContainingItsSeparator_IsRefused_SoNoTokenPublishesAsAnother(string template, string sub, string to, string otherSub, string otherTo)
    {
        // Before: both tokens published with one routing key (user.a.b.c): sub a, naming b.c, as sub a.b naming c.
        var parsed = RoutingKeyTemplate.Parse(template);
        Assert.True(parsed.TryResolve(to, Request(sub), out _, out var reason), reason);
        Assert.False(parsed.TryResolve(otherTo, Request(otherSub), out _, out var otherReason));
        Assert.Equal(
            $"token claim 'sub' must not contain '{template[template.IndexOf("${claim:sub}", StringComparison.Ordinal) - 1]}': the pattern separates a token's claim with it, and two tokens could build the same routing key",
            otherReason);
    }

    [Fact]
    public void Resolve_ClaimBetweenDestinationAndQuery_RefusesTheSeparatorInTheDestination()
    {
        var parsed = RoutingKeyTemplate.Parse("${to}.${claim:sub}.${query:room}");
        Assert.True(parsed.TryResolve("lobby", Request(), out var key, out var reason), reason);
        Assert.Equal("lobby.u42.r1", key);
        Assert.False(parsed.TryResolve("lob.by", Request(), out _, out reason));
        Assert.Equal("destination must not contain '.': the pattern separates a token's claim with it, and two tokens could build the same routing key", reason);
    }

    [Theory]
    [InlineData("user.${claim:sub}${to}", "'${claim:sub}' stands next to '${to}' with nothing between them")]
    [InlineData("${to}x${claim:sub}", "'${claim:sub}' stands next to '${to}' with only 'x' between them")]
    public void Parse_AClaimNextToAnotherPlaceholderWithoutPunctuation_IsAConfigurationError(string template, string expected) =>
        Assert.StartsWith(expected, Assert.Throws<FormatException>(() => RoutingKeyTemplate.Parse(template)).Message, StringComparison.Ordinal);

    private static HttpRequest Request(string sub = "u42", string query = "?room=r1")
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        context.Request.Headers.Cookie = "sid=s9";
        context.User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
            [new("sub", sub), new("team", "a"), new("team", "b")], Eventsourced.Authentication.SubscriberAuthenticator.TokenAuthenticationType));
        return context.Request;
    }
}
