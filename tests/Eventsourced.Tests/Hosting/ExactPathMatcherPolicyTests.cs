using Eventsourced.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Logging.Abstractions;

namespace Eventsourced.Tests.Hosting;

public sealed class ExactPathMatcherPolicyTests
{
    private static HttpContext Request(string rawTarget, string path, string pathBase = "")
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        context.Request.PathBase = pathBase;
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = rawTarget;
        return context;
    }

    [Theory]
    [InlineData("/metrics", "/metrics")]
    [InlineData("/metrics?name=x", "/metrics")]
    [InlineData("/%6detrics?x", "/%6detrics")]
    [InlineData("/./metrics", "/./metrics")]
    [InlineData("http://gateway:2069/metrics?x", "/metrics")]
    [InlineData("http://gateway:2069", "/")]
    public void RequestedPath_IsTheRawTargetsPath(string rawTarget, string expected) =>
        Assert.Equal(expected, ExactPathMatcherPolicy.RequestedPath(Request(rawTarget, "/metrics")));

    [Fact]
    public void RequestedPath_WithoutRawTarget_IsThePathAsARequestWouldSpellIt() =>
        Assert.Equal("/gw/m%C3%A9trics", ExactPathMatcherPolicy.RequestedPath(Request(string.Empty, "/métrics", "/gw")));

    [Theory]
    [InlineData("", "/metrics", "/metrics")]
    [InlineData("/gw", "/metrics", "/gw/metrics")]
    [InlineData("", "/métrics", "/m%C3%A9trics")]
    public void Spelling_IsTheEscapedPathBelowThePathBase(string pathBase, string path, string expected) =>
        Assert.Equal(expected, ExactPathMatcherPolicy.Spelling(new PathString(pathBase), path));

    [Theory]
    [InlineData("/metrics", true)]
    [InlineData("/metrics?x=1", true)]
    [InlineData("/METRICS", false)]
    [InlineData("/metrics/", false)]
    [InlineData("/%6detrics", false)]
    public async Task ApplyAsync_DropsTheExactEndpointUnlessSpelledExactly_KeepsTheOthers(string rawTarget, bool exactStays)
    {
        var exact = new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(new ExactPathMetadata("/metrics", "metrics.path")), "metrics");
        var stream = new Endpoint(_ => Task.CompletedTask, EndpointMetadataCollection.Empty, "stream");
        var candidates = new CandidateSet([exact, stream], [new RouteValueDictionary(), new RouteValueDictionary()], [0, 1]);
        var policy = new ExactPathMatcherPolicy(NullLoggerFactory.Instance);

        Assert.True(policy.AppliesToEndpoints([stream, exact]));
        Assert.False(policy.AppliesToEndpoints([stream]));
        await policy.ApplyAsync(Request(rawTarget, "/metrics"), candidates);

        Assert.Equal(exactStays, candidates.IsValidCandidate(0));
        Assert.True(candidates.IsValidCandidate(1));
    }

    [Theory]
    [InlineData("/metrics", false)]
    [InlineData("/{**rest}", true)]
    public async Task ApplyAsync_StepsAsideForALiteralRouteOfTheApplicationAtTheSamePath_NotForACatchAll(string theirPattern, bool oursStays)
    {
        var ours = new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(new ExactPathMetadata("/metrics", "metrics.path")), "metrics");
        var theirs = new RouteEndpoint(_ => Task.CompletedTask, RoutePatternFactory.Parse(theirPattern), 0, EndpointMetadataCollection.Empty, "theirs");
        var candidates = new CandidateSet([ours, theirs], [new RouteValueDictionary(), new RouteValueDictionary()], [0, 0]);

        await new ExactPathMatcherPolicy(NullLoggerFactory.Instance).ApplyAsync(Request("/metrics", "/metrics"), candidates);

        Assert.Equal(oursStays, candidates.IsValidCandidate(0));
        Assert.True(candidates.IsValidCandidate(1));
    }
}
