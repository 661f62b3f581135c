using Eventsourced.Configuration;
using Eventsourced.Streaming;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

// Extension methods live in the namespace of the type they extend, as ASP.NET Core's own do.
namespace Microsoft.AspNetCore.Builder;

public static class EventsourcedEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the SSE stream at <c>server.path</c>. A path ending in <c>/</c> also serves every path below it
    /// that no other endpoint claims (the original served "/" for every path).
    /// </summary>
    public static IEndpointConventionBuilder MapEventsourced(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<GatewayOptions>();
        var stream = endpoints.ServiceProvider.GetRequiredService<StreamEndpoint>();
        var path = options.Server.Path;
        var pattern = path.EndsWith('/') ? path + "{**rest}" : path;
        return endpoints.Map(pattern, stream.HandleAsync).WithDisplayName("eventsourced stream");
    }
}
