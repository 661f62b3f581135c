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
    [InlineData("${query:other}.${to}", "x", "missing query parameter 'other'")]
    [InlineData("${cookie:other}.${to}", "x", "missing cookie 'other'")]
    [InlineData("${claim:role}.${to}", "x", "token has no claim 'role'")]
    [InlineData("${claim:team}.${to}", "x", "token claim 'team' has several values")]
    public void Resolve_Refuses_WithAReason(string template, string to, string expected)
    {
        Assert.False(RoutingKeyTemplate.Parse(template).TryResolve(to, Request(), out _, out var reason));
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
    public void Parse_Bad_SaysWhy(string template, string expected) =>
        Assert.Equal(expected, Assert.Throws<FormatException>(() => RoutingKeyTemplate.Parse(template)).Message);

    private static HttpRequest Request()
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?room=r1");
        context.Request.Headers.Cookie = "sid=s9";
        context.User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
            [new("sub", "u42"), new("team", "a"), new("team", "b")], Eventsourced.Authentication.SubscriberAuthenticator.TokenAuthenticationType));
        return context.Request;
    }
}
