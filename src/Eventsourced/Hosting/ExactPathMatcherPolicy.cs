using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace Eventsourced.Hosting;

/// <summary>Endpoint metadata: the endpoint answers only a request whose target spells its path exactly so.</summary>
internal sealed record ExactPathMetadata(string Path);

/// <summary>
/// Routing matches a literal path case-insensitively, with or without a trailing <c>/</c>, and after Kestrel has
/// decoded percent-escapes and dot segments: <c>/METRICS</c>, <c>/metrics/</c> and <c>/%6detrics</c> would all
/// reach <c>/metrics</c>, around a proxy's case-sensitive deny rule. This policy drops an endpoint carrying
/// <see cref="ExactPathMetadata"/> from the candidates unless the raw request target's path is that path, byte for
/// byte; such a request then goes where any other path would (a stream at a <c>server.path</c> ending in
/// <c>/</c>, else 404).
/// </summary>
internal sealed class ExactPathMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    // After the built-in policies (HTTP method, host), which only narrow the candidates further.
    public override int Order => 1000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.Any(e => e.Metadata.GetMetadata<ExactPathMetadata>() is not null);
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(candidates);
        string? requested = null;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<ExactPathMetadata>() is { } exact)
            {
                requested ??= RequestedPath(httpContext);
                if (!string.Equals(requested, Spelling(httpContext.Request.PathBase, exact.Path), StringComparison.Ordinal))
                {
                    candidates.SetValidity(i, false);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>The path of the request target as the client sent it: not decoded, not normalised, without the query.</summary>
    internal static string RequestedPath(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            return context.Request.PathBase.Add(context.Request.Path).ToUriComponent();
        }

        if (raw[0] != '/')
        {
            // Absolute form (GET http://host:port/path HTTP/1.1): the path starts at the first '/' after the authority.
            var authority = raw.IndexOf("://", StringComparison.Ordinal);
            var slash = authority < 0 ? -1 : raw.IndexOf('/', authority + 3);
            raw = slash < 0 ? "/" : raw[slash..];
        }

        var query = raw.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? raw : raw[..query];
    }

    /// <summary>How a request target spells <paramref name="path"/> below <paramref name="pathBase"/> (escaped as a URI path).</summary>
    internal static string Spelling(PathString pathBase, string path) => pathBase.Add(new PathString(path)).ToUriComponent();
}
