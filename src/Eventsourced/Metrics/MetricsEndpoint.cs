using Microsoft.AspNetCore.Http;

namespace Eventsourced.Metrics;

/// <summary><c>GET metrics.path</c>: one scrape from the registered <see cref="IMetricsExposition"/>, never cached.</summary>
internal sealed class MetricsEndpoint(IMetricsExposition exposition)
{
    public async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = exposition.ContentType;
        response.Headers.CacheControl = "no-store";
        await exposition.WriteAsync(response.Body, context.RequestAborted);
    }
}
