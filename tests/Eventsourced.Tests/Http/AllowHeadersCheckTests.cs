using Eventsourced.Configuration;
using Eventsourced.Http;

namespace Eventsourced.Tests.Http;

public sealed class AllowHeadersCheckTests
{
    private const string Version010 = "Content-Type, Accept, Cache-Control";

    private static GatewayOptions Options(string? allowHeaders, bool tokens = true, bool topics = true, string? origin = "*", bool credentials = false)
    {
        var options = new GatewayOptions();
        if (tokens)
        {
            options.Auth.Jwt.Secret = new string('k', 32);
        }

        if (!topics)
        {
            options.Topics.Path = string.Empty;
        }

        var cors = options.Header.Cors;
        if (origin is null)
        {
            cors.Remove("Access-Control-Allow-Origin");
        }
        else
        {
            cors["Access-Control-Allow-Origin"] = origin;
        }

        if (credentials)
        {
            cors["Access-Control-Allow-Credentials"] = "true";
        }

        if (allowHeaders is null)
        {
            cors.Remove(AllowHeadersCheck.Header);
        }
        else
        {
            cors[AllowHeadersCheck.Header] = allowHeaders;
        }

        return options;
    }

    [Fact]
    public void TheDefault_MissesNothing() =>
        Assert.Empty(AllowHeadersCheck.Missing(new GatewayOptions { Auth = { Jwt = { Secret = new string('k', 32) } } }));

    [Fact]
    public void A010List_WithTokensAndTopics_MissesBoth() =>
        Assert.Equal(["Authorization", "Last-Event-ID"], AllowHeadersCheck.Missing(Options(Version010)));

    [Fact]
    public void NoHeaderAtAll_MissesBoth() =>
        Assert.Equal(["Authorization", "Last-Event-ID"], AllowHeadersCheck.Missing(Options(null)));

    [Fact]
    public void WithoutTokens_AuthorizationIsNotNeeded() =>
        Assert.Equal(["Last-Event-ID"], AllowHeadersCheck.Missing(Options(Version010, tokens: false)));

    [Fact]
    public void WithoutTopics_LastEventIdIsNotNeeded() =>
        Assert.Equal(["Authorization"], AllowHeadersCheck.Missing(Options(Version010, topics: false)));

    [Fact]
    public void TokensNotTakenFromTheHeader_AuthorizationIsNotNeeded()
    {
        var options = Options(Version010);
        options.Auth.FromHeader = false;
        Assert.Equal(["Last-Event-ID"], AllowHeadersCheck.Missing(options));
    }

    [Fact]
    public void WithoutCors_NothingIsMissing()
    {
        Assert.Empty(AllowHeadersCheck.Missing(Options(Version010, origin: null)));
        Assert.Empty(AllowHeadersCheck.Missing(Options(Version010, origin: " ")));
    }

    [Theory]
    [InlineData("content-type, authorization, last-event-id")]
    [InlineData(" Authorization ,Last-Event-ID ")]
    public void NamesMatchIgnoringCaseAndSpaces(string value) => Assert.Empty(AllowHeadersCheck.Missing(Options(value)));

    [Fact]
    public void AWildcard_AllowsLastEventIdButNeverAuthorization() =>
        Assert.Equal(["Authorization"], AllowHeadersCheck.Missing(Options("*")));

    [Fact]
    public void AWildcard_WithCredentials_AllowsNothing() =>
        Assert.Equal(["Authorization", "Last-Event-ID"], AllowHeadersCheck.Missing(Options("*", origin: "https://a.example", credentials: true)));

    [Fact]
    public void AHeaderNameThatOnlyContainsAnother_DoesNotCount() =>
        Assert.Equal(["Authorization", "Last-Event-ID"], AllowHeadersCheck.Missing(Options("X-Authorization, Last-Event-IDs")));
}
