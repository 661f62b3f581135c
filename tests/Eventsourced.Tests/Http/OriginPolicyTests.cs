using Eventsourced.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Http;

public sealed class OriginPolicyTests
{
    private static OriginPolicy Policy(string? allowOrigin)
    {
        var headers = new HeaderOptions();
        if (allowOrigin is null)
        {
            headers.Cors.Remove("Access-Control-Allow-Origin");
        }
        else
        {
            headers.Cors["Access-Control-Allow-Origin"] = allowOrigin;
        }

        return new OriginPolicy(Options.Create(headers));
    }

    private static IHeaderDictionary Answer(OriginPolicy policy, string? origin)
    {
        var context = new DefaultHttpContext();
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        policy.Apply(context);
        return context.Response.Headers;
    }

    [Fact]
    public void Wildcard_AllowsEveryOriginWithoutVary()
    {
        var policy = Policy("*");

        Assert.True(policy.IsAllowed("https://any.example"));
        Assert.Equal("*", Answer(policy, "https://any.example")["Access-Control-Allow-Origin"].ToString());
        Assert.False(Answer(policy, "https://any.example").ContainsKey("Vary"));
    }

    [Fact]
    public void List_AnswersAListedOriginWithItselfAndVary()
    {
        var policy = Policy("https://app.example, https://admin.example:8443");

        var answer = Answer(policy, "https://admin.example:8443");

        Assert.Equal("https://admin.example:8443", answer["Access-Control-Allow-Origin"].ToString());
        Assert.Equal("Origin", answer["Vary"].ToString());
        Assert.True(policy.IsAllowed("https://app.example"));
    }

    [Fact]
    public void List_AnswersNothingForAnUnlistedOrigin()
    {
        var policy = Policy("https://app.example https://admin.example");

        var answer = Answer(policy, "https://evil.example");

        Assert.False(answer.ContainsKey("Access-Control-Allow-Origin"));
        Assert.Equal("Origin", answer["Vary"].ToString());
        Assert.False(policy.IsAllowed("https://evil.example"));
        Assert.False(policy.IsAllowed("https://app.example.evil.example"));
        Assert.False(policy.IsAllowed("null"));
    }

    [Fact]
    public void List_RequestWithoutOrigin_IsAllowedWithoutTheHeader()
    {
        var policy = Policy("https://app.example");

        Assert.True(policy.IsAllowed(null));
        Assert.True(policy.IsAllowed(""));
        Assert.False(Answer(policy, null).ContainsKey("Access-Control-Allow-Origin"));
    }

    [Fact]
    public void Removed_SendsNothingAndRefusesNothing()
    {
        var policy = Policy(null);

        Assert.True(policy.IsAllowed("https://any.example"));
        Assert.Empty(Answer(policy, "https://any.example"));
    }
}
