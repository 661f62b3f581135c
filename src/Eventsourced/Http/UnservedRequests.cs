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
/// there): such a request gets the <c>405</c> too, with <c>Allow</c>, instead of the <c>404</c>.
/// </summary>
internal static class UnservedRequests
{
    public static async Task HandleAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint() is null)
        {
            if (MethodsOf(context) is { Length: > 0 } methods)
            {
                context.Response.Headers.Allow = string.Join(", ", methods);
                await StatusReason.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed");
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

        await next(context);
        if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !context.Response.HasStarted)
        {
            await StatusReason.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed");
        }
    }

    /// <summary>
    /// The methods taken at the request's path (a literal route, spelt exactly so where it must be: see
    /// <see cref="Hosting.ExactPathMatcherPolicy"/>) by the endpoints of the request's listener, when routing found none
    /// for its method; empty when no endpoint serves the path.
    /// </summary>
    private static string[] MethodsOf(HttpContext context)
    {
        var observability = ObservabilityListener.Serves(context);
        var path = context.Request.Path.Value ?? string.Empty;
        string? requested = null;
        return [.. context.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => string.Equals(e.RoutePattern.RawText, path, StringComparison.OrdinalIgnoreCase)
                && (e.Metadata.GetMetadata<ListenerMetadata>()?.Observability ?? observability) == observability
                && (e.Metadata.GetMetadata<Hosting.ExactPathMetadata>() is not { } exact
                    || string.Equals(requested ??= Hosting.ExactPathMatcherPolicy.RequestedPath(context), Hosting.ExactPathMatcherPolicy.Spelling(context.Request.PathBase, exact.Path), StringComparison.Ordinal)))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            .Distinct(StringComparer.OrdinalIgnoreCase)];
    }
}
