using Eventsourced.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Infrastructure;

/// <summary>
/// An application of a team's own that embeds the gateway as the README shows (<c>AddEventsourced</c> with a section of its
/// configuration, then its own pipeline and the <c>MapEventsourced...</c> calls), started on a free loopback port.
/// </summary>
public static class EmbeddingApp
{
    /// <param name="amqpUrl">The broker node (<c>broker.node</c>).</param>
    /// <param name="settings">More keys of the <c>Eventsourced</c> section, as <c>auth:application_user</c>.</param>
    /// <param name="configure">The application's own services and logging, before the gateway's are added.</param>
    /// <param name="map">The application's pipeline and endpoints.</param>
    public static async Task<WebApplication> StartAsync(
        string amqpUrl, IEnumerable<(string Key, string Value)> settings, Action<WebApplicationBuilder>? configure, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{FreePort.Next()}");
        configure?.Invoke(builder);
        builder.Services.AddEventsourced(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create("Eventsourced:" + s.Key, (string?)s.Value))
                .Append(KeyValuePair.Create("Eventsourced:broker:node:0", (string?)amqpUrl)))
            .Build()
            .GetSection("Eventsourced"));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }
}
