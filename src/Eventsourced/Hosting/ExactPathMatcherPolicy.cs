using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// Endpoint metadata: the endpoint answers only a request whose target spells its path exactly so; <paramref name="Key"/> is the
/// configuration key that sets the path.
/// </summary>
internal sealed record ExactPathMetadata(string Path, string Key);

/// <summary>
/// Routing matches a literal path case-insensitively, with or without a trailing <c>/</c>, and after Kestrel has
/// decoded percent-escapes and dot segments: <c>/METRICS</c>, <c>/metrics/</c> and <c>/%6detrics</c> would all
/// reach <c>/metrics</c>, around a proxy's case-sensitive deny rule. This policy drops an endpoint carrying
/// <see cref="ExactPathMetadata"/> from the candidates unless the raw request target's path is that path, byte for
/// byte; such a request then goes where any other path would (a stream at a <c>server.path</c> ending in
/// <c>/</c>, else 404).
/// <para>
/// In an application of its own, the gateway's endpoint also steps aside for a literal route the application maps at the same
/// path (prometheus-net's <c>MapMetrics()</c> at <c>/metrics</c>): both would match with the same precedence, and routing
/// would answer every such request 500 (an ambiguous match). The application's endpoint answers, and the first such request
/// for each key logs which key to move (event 118).
/// </para>
/// </summary>
internal sealed class ExactPathMatcherPolicy(ILoggerFactory loggers) : MatcherPolicy, IEndpointSelectorPolicy
{
    private readonly ILogger _logger = loggers.CreateLogger("Eventsourced");
    private readonly ConcurrentDictionary<string, bool> _shadowedLogged = new(StringComparer.Ordinal);

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
        var ours = -1;
        var theirs = -1;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i))
            {
                continue;
            }

            if (candidates[i].Endpoint.Metadata.GetMetadata<ExactPathMetadata>() is { } exact)
            {
                requested ??= RequestedPath(httpContext);
                if (IsSpeltExactly(httpContext, candidates[i].Endpoint, exact, requested))
                {
                    ours = i;
                }
                else
                {
                    candidates.SetValidity(i, false);
                }
            }
            else if (IsApplicationsLiteralRoute(candidates[i].Endpoint))
            {
                theirs = i;
            }
        }

        if (ours >= 0 && theirs >= 0)
        {
            // An observability path has two endpoints of the gateway (its methods, and the other methods' refusal): both step aside.
            for (var i = 0; i < candidates.Count; i++)
            {
                if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<ExactPathMetadata>() is not null)
                {
                    candidates.SetValidity(i, false);
                }
            }

            LogShadowed(candidates[theirs].Endpoint, candidates[ours].Endpoint.Metadata.GetRequiredMetadata<ExactPathMetadata>());
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Whether <paramref name="endpoint"/> is a literal route of the application's own (no parameters, none of the gateway's
    /// exact paths): at an observability path, the one that answers in its place.
    /// </summary>
    internal static bool IsApplicationsLiteralRoute(Endpoint endpoint) =>
        endpoint is RouteEndpoint { RoutePattern.Parameters.Count: 0 } && endpoint.Metadata.GetMetadata<ExactPathMetadata>() is null;

    private void LogShadowed(Endpoint theirs, ExactPathMetadata ours)
    {
        // Once per key: the clash is in the application's mapping, the same for every request that meets it.
        if (_shadowedLogged.TryAdd(ours.Key, true))
        {
            HostingLog.EndpointShadowed(_logger, theirs.DisplayName ?? "an endpoint", ours.Path, ours.Key);
        }
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

    /// <summary>
    /// Whether <paramref name="requested"/> (<see cref="RequestedPath"/>) spells <paramref name="endpoint"/>'s path exactly: its route
    /// as the application mapped it (a group's prefix included: <c>/push/metrics</c>) below the request's path base; below a
    /// group whose prefix has parameters, which routing matched already, the configured path at its end.
    /// </summary>
    internal static bool IsSpeltExactly(HttpContext context, Endpoint endpoint, ExactPathMetadata exact, string requested)
    {
        if (endpoint is RouteEndpoint { RoutePattern: { Parameters.Count: 0, RawText: { } route } })
        {
            return string.Equals(requested, Spelling(context.Request.PathBase, route.StartsWith('/') ? route : "/" + route), StringComparison.Ordinal);
        }

        return requested.EndsWith(Spelling(PathString.Empty, exact.Path), StringComparison.Ordinal);
    }

    /// <summary>How a request target spells <paramref name="path"/> below <paramref name="pathBase"/> (escaped as a URI path).</summary>
    internal static string Spelling(PathString pathBase, string path) => pathBase.Add(new PathString(path)).ToUriComponent();
}
