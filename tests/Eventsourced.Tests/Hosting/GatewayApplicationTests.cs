using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Hosting;

/// <summary>Changes the process environment and the test directory's appsettings.json: nothing else may run meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCollection
{
    public const string Name = "Process-wide settings";
}

/// <summary>The gateway as a program: configured by its documented sources only.</summary>
[Collection(ProcessWideCollection.Name)]
public sealed class GatewayApplicationTests
{
    [Fact]
    public async Task Build_AspNetCoresOwnSettingsAround_TheyDoNotApply()
    {
        var appsettings = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        await File.WriteAllTextAsync(appsettings, """
            { "Kestrel": { "Endpoints": { "Http": { "Url": "http://127.0.0.1:1" } } },
              "urls": "http://127.0.0.1:2", "queue": { "prefetch": 7 }, "Logging": { "LogLevel": { "Default": "Trace" } } }
            """);
        Environment.SetEnvironmentVariable("ASPNETCORE_URLS", "http://127.0.0.1:3");
        Environment.SetEnvironmentVariable("DOTNET_URLS", "http://127.0.0.1:4");
        Environment.SetEnvironmentVariable("ASPNETCORE_Kestrel__Endpoints__Other__Url", "http://127.0.0.1:5");
        try
        {
            var options = new GatewayOptions();
            options.Server.Address = "127.0.0.1:0";
            options.Broker.Node = ["amqp://127.0.0.1:1/"];
            options.Log.Level = "critical";
            await using var app = GatewayApplication.Build(options);

            Assert.Null(app.Configuration["urls"]);
            Assert.False(app.Configuration.GetSection("Kestrel").Exists());
            Assert.Equal(64, app.Services.GetRequiredService<IOptions<QueueOptions>>().Value.Prefetch);

            await app.StartAsync();
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            await app.StopAsync();
            var address = Assert.Single(addresses);
            Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
            Assert.DoesNotMatch(@":[1-5]$", address);
        }
        finally
        {
            File.Delete(appsettings);
            Environment.SetEnvironmentVariable("ASPNETCORE_URLS", null);
            Environment.SetEnvironmentVariable("DOTNET_URLS", null);
            Environment.SetEnvironmentVariable("ASPNETCORE_Kestrel__Endpoints__Other__Url", null);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Build_ListenHostNameThatDoesNotResolve_ThrowsIOException(bool metricsListener)
    {
        // The program answers an IOException with exit code 69 and its message; anything else crashed it (SIGABRT, 134).
        var options = new GatewayOptions();
        options.Server.Address = metricsListener ? "127.0.0.1:0" : "no-such-host.invalid:2069";
        options.Metrics.Address = metricsListener ? "no-such-host.invalid:9069" : string.Empty;
        options.Broker.Node = ["amqp://127.0.0.1:1/"];
        options.Log.Level = "critical";

        var ex = Assert.Throws<IOException>(() => GatewayApplication.Build(options));

        Assert.Contains("no-such-host.invalid", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_BadOptionsInCode_ThrowsWithEveryProblem()
    {
        var options = new GatewayOptions();
        options.Queue.Prefetch = 0;
        options.Server.Path = "/{x}";

        var ex = Assert.Throws<InvalidOperationException>(() => GatewayApplication.Build(options));

        Assert.Contains("server.path: must not contain '{' or '}', got '/{x}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("queue.prefetch: must be from 1 to 65535, got 0", ex.Message, StringComparison.Ordinal);
    }
}
