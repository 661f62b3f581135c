using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.Http;

/// <summary>
/// Answers what routing leaves without an endpoint's answer as every refusal is answered: a path no endpoint serves
/// (with an exact <c>server.path</c>, or on <c>metrics.address</c>) gets <c>404</c> <c>no such endpoint</c>, on the
/// clients' listener with the CORS headers (<see cref="SubscriptionGate.RefuseNoEndpointAsync"/>), and a method an endpoint does not take (routing's own
/// <c>405</c> of the metrics and debug endpoints, which is empty) gets its reason. Runs after routing. On
/// <c>metrics.address</c> routing finds no endpoint at all for a method the path's endpoint does not take (with a
/// <c>server.path</c> ending in <c>/</c>, the stream's catch-all is the one candidate left for it, and it is not served
/// there): such a request gets the <c>405</c> too, with <c>Allow</c>, instead of the <c>404</c>; on the clients' listener, with
/// such a <c>server.path</c>, it gets the path's endpoint's <c>405</c> and <c>Allow</c>, not the stream's. With <c>metrics.token</c>,
/// a request without the token gets the token's <c>401</c> instead of any <c>405</c> at <c>/metrics</c> and
/// <c>/debug/vars</c>, so that who has no token cannot tell these paths from any other.
/// </summary>
internal static class UnservedRequests
{
    public static async Task HandleAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint() is null)
        {
            var served = EndpointsAt(context);
            if (MethodsOf(served) is { Length: > 0 } methods)
            {
                await RefuseMethodAsync(context, served, methods);
                return;
            }

            if (ObservabilityListener.Serves(context))
            {
                // Scrapers and probes, not pages: the CORS headers of the subscription endpoints are not this listener's.
                await StatusReason.WriteAsync(context, StatusCodes.Status404NotFound, "no such endpoint");
                return;
            }

            await context.RequestServices.GetRequiredService<SubscriptionGate>().RefuseNoEndpointAsync(context);
            return;
        }

        // With a server.path ending in /, the stream's catch-all takes every other method at the paths of the health and
        // metrics endpoints, and refused it (405) as the stream, with the stream's Allow (GET, OPTIONS): it is refused
        // as the path's endpoint refuses it, with that endpoint's methods, and without the token that is the token's
        // 401. GET and HEAD reach the endpoint itself, which checks; OPTIONS is a CORS preflight on the clients'
        // listener, which carries no credentials.
        var method = context.Request.Method;
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method) && !HttpMethods.IsOptions(method)
            && context.GetEndpoint() is { } found
            && EndpointsAt(context) is { Length: > 0 } atPath && !atPath.Contains(found)
            && MethodsOf(atPath) is { Length: > 0 } taken)
        {
            await RefuseMethodAsync(context, atPath, taken);
            return;
        }

        await next(context);
        if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !context.Response.HasStarted)
        {
            await RefuseMethodAsync(context, EndpointsAt(context), null);
        }
    }

    /// <summary>
    /// A <c>405</c> with its reason (and <c>Allow</c>, when <paramref name="methods"/> are given); but a <c>401</c> where an
    /// endpoint at the path needs <c>metrics.token</c> and the request lacks it: who has no token does not learn that the
    /// path is served (on <c>metrics.address</c>, any other path is a <c>404</c>).
    /// </summary>
    private static Task RefuseMethodAsync(HttpContext context, RouteEndpoint[] served, string[]? methods)
    {
        if (TokenAt(served) is { } token && !token.Admits(context))
        {
            return token.ChallengeAsync(context);
        }

        if (methods is not null)
        {
            context.Response.Headers.Allow = string.Join(", ", methods);
        }

        return StatusReason.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed");
    }

    /// <summary>
    /// The endpoints of the request's listener at the request's path (a literal route, spelt exactly so where it must be:
    /// see <see cref="Hosting.ExactPathMatcherPolicy"/>).
    /// </summary>
    private static RouteEndpoint[] EndpointsAt(HttpContext context)
    {
        var observability = ObservabilityListener.Serves(context);
        var path = context.Request.Path.Value ?? string.Empty;
        string? requested = null;
        return [.. context.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => string.Equals(e.RoutePattern.RawText, path, StringComparison.OrdinalIgnoreCase)
                && (e.Metadata.GetMetadata<ListenerMetadata>()?.Observability ?? observability) == observability
                && (e.Metadata.GetMetadata<Hosting.ExactPathMetadata>() is not { } exact
                    || Hosting.ExactPathMatcherPolicy.IsSpeltExactly(context, e, exact, requested ??= Hosting.ExactPathMatcherPolicy.RequestedPath(context))))];
    }

    /// <summary>The <c>metrics.token</c> one of <paramref name="served"/> needs, if any.</summary>
    private static ObservabilityToken? TokenAt(RouteEndpoint[] served) =>
        served.Select(e => e.Metadata.GetMetadata<ObservabilityToken>()).FirstOrDefault(t => t is not null);

    /// <summary>The methods <paramref name="served"/> take, when routing found none for the request's; empty when no endpoint serves the path.</summary>
    private static string[] MethodsOf(RouteEndpoint[] served) =>
        [.. served.SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Distinct(StringComparer.OrdinalIgnoreCase)];
}
