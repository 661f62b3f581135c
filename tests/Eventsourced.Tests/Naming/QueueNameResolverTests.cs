using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Naming;

public sealed class QueueNameResolverTests
{
    private static (bool Ok, string Name, string Reason) Resolve(string pattern, string query = "", string? cookie = null)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        if (cookie is not null)
        {
            context.Request.Headers.Cookie = cookie;
        }

        var ok = new QueueNameResolver(QueuePattern.Parse(pattern)).TryResolve(context.Request, out var name, out var reason);
        return (ok, name, reason);
    }

    [Fact]
    public void TryResolve_QueryPattern_TakesTheParameter() =>
        Assert.Equal((true, "42", ""), Resolve("${query:id}", "?id=42"));

    [Fact]
    public void TryResolve_MixedPattern_ConcatenatesLiteralsQueryAndCookie() =>
        Assert.Equal((true, "queue-42-abc-name", ""), Resolve("queue-${query:id}-${cookie:sid}-name", "?id=42", "sid=abc; other=1"));

    [Fact]
    public void TryResolve_WhitespaceInPattern_IsIgnored() =>
        Assert.Equal((true, "q-7", ""), Resolve(" q- ${query:id} ", "?id=7"));

    [Fact]
    public void TryResolve_RepeatedParameter_TakesTheFirst() =>
        Assert.Equal((true, "1", ""), Resolve("${query:id}", "?id=1&id=2"));

    [Fact]
    public void TryResolve_ParameterNames_AreCaseInsensitiveAsInAspNetCore() =>
        Assert.Equal((true, "1", ""), Resolve("${query:id}", "?ID=1"));

    [Fact]
    public void TryResolve_PercentEncodedUtf8_IsDecoded() =>
        Assert.Equal((true, "grüße", ""), Resolve("${query:id}", "?id=gr%C3%BC%C3%9Fe"));

    [Theory]
    [InlineData("${query:id}", "", null, "missing query parameter 'id'")]
    [InlineData("${query:id}", "?id=", null, "missing query parameter 'id'")]
    [InlineData("${cookie:sid}", "", "other=1", "missing cookie 'sid'")]
    [InlineData("${cookie:sid}", "", null, "missing cookie 'sid'")]
    [InlineData("${query:id}", "?id=amq.gen", null, "queue name must not start with 'amq.'")]
    [InlineData("${query:id}", "?id=AMQ.x", null, "queue name must not start with 'amq.'")]
    [InlineData("${query:id}", "?id=eventsourced.lock.abc", null, "queue name must not start with 'eventsourced.lock.' (the gateway's lock queues)")]
    [InlineData("eventsourced.${query:id}", "?id=lock.x", null, "queue name must not start with 'eventsourced.lock.' (the gateway's lock queues)")]
    [InlineData("${query:id}", "?id=a%09b", null, "queue name contains control characters")]
    [InlineData("${query:id}", "?id=a%7Fb", null, "queue name contains control characters")]
    public void TryResolve_BadInput_FailsWithReason(string pattern, string query, string? cookie, string reason) =>
        Assert.Equal((false, "", reason), Resolve(pattern, query, cookie));

    [Fact]
    public void TryResolve_LimitIsUtf8BytesNotCharacters()
    {
        Assert.True(Resolve("${query:id}", "?id=" + new string('a', 255)).Ok);
        Assert.Equal("queue name longer than 255 bytes", Resolve("${query:id}", "?id=" + new string('a', 256)).Reason);
        // 128 two-byte characters: 128 chars, 256 bytes.
        Assert.Equal("queue name longer than 255 bytes", Resolve("${query:id}", "?id=" + string.Concat(Enumerable.Repeat("%C3%A9", 128))).Reason);
        Assert.True(Resolve("${query:id}", "?id=" + string.Concat(Enumerable.Repeat("%C3%A9", 127))).Ok);
    }

    [Fact]
    public void TryResolve_AmqInsideTheName_IsFine() =>
        Assert.True(Resolve("x-${query:id}", "?id=amq.y").Ok);

    [Fact]
    public void TryResolve_LockPrefixInsideTheName_IsFine() =>
        Assert.True(Resolve("x-${query:id}", "?id=eventsourced.lock.y").Ok);
}
