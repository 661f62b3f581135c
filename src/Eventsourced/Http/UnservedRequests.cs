using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.Http;

/// <summary>
/// Answers what routing leaves without an endpoint's answer as every refusal is answered: a path no endpoint serves
/// (with an exact <c>server.path</c>, or on <c>metrics.address</c>) gets <c>404</c> <c>no such endpoint</c> with the CORS
/// headers (<see cref="SubscriptionGate.RefuseNoEndpointAsync"/>), and a method an endpoint does not take (routing's own
/// <c>405</c> of the metrics and debug endpoints, which is empty) gets its reason. Runs after routing.
/// </summary>
internal static class UnservedRequests
{
    public static async Task HandleAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint() is null)
        {
            await context.RequestServices.GetRequiredService<SubscriptionGate>().RefuseNoEndpointAsync(context);
            return;
        }

        await next(context);
        if (context.Response.StatusCode == StatusCodes.Status405MethodNotAllowed && !context.Response.HasStarted)
        {
            await StatusReason.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method not allowed");
        }
    }
}
