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

    /// <summary>
    /// The connection middleware of the observability listener. A connection that sends nothing within
    /// <paramref name="firstBytesTimeout"/> (<c>limits.request_headers_timeout</c>) is closed: Kestrel waits for a
    /// connection's first request as long as for a kept-alive one's next (130 s), so 64 connections that never sent a
    /// byte held the listener's whole cap, and its scrapes and probes failed, for two minutes at a time.
    /// </summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(TimeSpan firstBytesTimeout) => next => async context =>
    {
        context.Features.Set(Instance);
        if (await FirstBytesAsync(context, firstBytesTimeout))
        {
            await next(context);
        }
    };

    /// <summary>Whether the connection sent something in time; what it sent stays unread, for Kestrel.</summary>
    private static async Task<bool> FirstBytesAsync(ConnectionContext context, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.ConnectionClosed);
        deadline.CancelAfter(timeout);
        try
        {
            var result = await context.Transport.Input.ReadAsync(deadline.Token);
            // Nothing consumed, nothing examined: Kestrel's first read gets the same bytes at once.
            context.Transport.Input.AdvanceTo(result.Buffer.Start);
            return !result.Buffer.IsEmpty;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

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
