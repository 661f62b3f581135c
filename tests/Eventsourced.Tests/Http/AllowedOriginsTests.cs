using Eventsourced.Http;
using Microsoft.Extensions.Primitives;

namespace Eventsourced.Tests.Http;

public sealed class AllowedOriginsTests
{
    [Theory]
    [InlineData("*", "https://any.example", true)]
    [InlineData("https://app.example", "https://app.example", true)]
    [InlineData("https://app.example/", "https://app.example", true)]
    [InlineData("https://app.example", "https://APP.example", true)]
    [InlineData("https://app.example", "https://evil.example", false)]
    [InlineData("https://app.example", "http://app.example", false)]
    [InlineData("https://app.example", "https://app.example:8443", false)]
    [InlineData("https://a.example, https://b.example", "https://b.example", true)]
    [InlineData("https://a.example https://b.example", "https://c.example", false)]
    [InlineData("https://app.example", "null", false)]
    [InlineData("", "https://app.example", false)]
    public void Allows_TheConfiguredOrigins(string configured, string origin, bool allowed) =>
        Assert.Equal(allowed, Origins(configured).Allows(origin));

    [Fact]
    public void Allows_ARequestWithoutOrigin_WhichNoBrowserPageSends()
    {
        Assert.True(Origins("https://app.example").Allows(StringValues.Empty));
        Assert.False(Origins("https://app.example").Allows(new StringValues(["https://app.example", "https://evil.example"])));
    }

    private static AllowedOrigins Origins(string value) =>
        new(new Dictionary<string, string> { ["access-control-allow-origin"] = value });
}
