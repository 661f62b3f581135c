using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace Eventsourced.Metrics;

/// <summary>
/// A connection feature: the connection came in on <c>metrics.address</c>, the observability listener. Set by a
/// connection middleware of that listener only; a request cannot forge it (unlike a <c>Host</c> header).
/// </summary>
internal sealed class ObservabilityListener
{
    private static readonly ObservabilityListener Instance = new();

    private ObservabilityListener()
    {
    }

    /// <summary>The connection middleware of the observability listener.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware() => next => context =>
    {
        context.Features.Set(Instance);
        return next(context);
    };

    public static bool Serves(HttpContext context) => context.Features.Get<ObservabilityListener>() is not null;
}

/// <summary>Endpoint metadata: the endpoint answers only on the observability listener (true) or only off it (false).</summary>
internal sealed record ListenerMetadata(bool Observability);

/// <summary>
/// Drops a candidate endpoint whose <see cref="ListenerMetadata"/> does not match the connection's listener: with
/// <c>metrics.address</c> set, <c>/metrics</c> and <c>/debug/vars</c> exist only there and the stream only on
/// <c>server.address</c>; the health probes (no metadata) answer on both.
/// </summary>
internal sealed class ListenerMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    // After the built-in policies, as ExactPathMatcherPolicy.
    public override int Order => 1001;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.Any(e => e.Metadata.GetMetadata<ListenerMetadata>() is not null);
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(candidates);
        var observability = ObservabilityListener.Serves(httpContext);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i)
                && candidates[i].Endpoint.Metadata.GetMetadata<ListenerMetadata>() is { } listener
                && listener.Observability != observability)
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
