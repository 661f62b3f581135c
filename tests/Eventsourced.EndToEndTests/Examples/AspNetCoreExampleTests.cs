using System.Net;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Examples;

/// <summary>
/// <c>examples/aspnetcore</c>: an application of its own that consumes the packed library (the NuGet package
/// <c>make pack</c> makes) with <c>AddEventsourced</c> and <c>MapEventsourced("/events")</c>, built and run
/// as a user would, streaming what is published to a real broker.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class AspNetCoreExampleTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Restores and builds: minutes on a cold cache.</summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task PackedLibrary_InAnApplication_StreamsNextToItsOwnEndpoints()
    {
        var dotnet = Tools.Require("dotnet", "the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)");
        var work = Directory.CreateTempSubdirectory("eventsourced-aspnetcore-example-");
        // A version of this run's own: NuGet caches packages by version, and the checkout's may have changed.
        var version = $"{File.ReadAllText(Path.Combine(RepoPaths.Root, "VERSION")).Trim()}-e2e.{Guid.NewGuid():N}";
        try
        {
            var packages = Path.Combine(work.FullName, "packages");
            var pack = await ProcessRunner.RunAsync(
                dotnet, ["pack", Path.Combine(RepoPaths.Root, "src", "Eventsourced", "Eventsourced.csproj"), "-c", "Release", "--no-build", "-o", packages, $"-p:PackageVersion={version}"],
                BuildTimeout, DotnetBuild.CleanEnvironment([]));
            Assert.True(pack.ExitCode == 0, pack.ToString());

            // The example as a user copies it; its nuget.config points at out/packages, here at this run's package.
            var app = Path.Combine(work.FullName, "app");
            Directory.CreateDirectory(app);
            foreach (var file in Directory.GetFiles(RepoPaths.Examples("aspnetcore")))
            {
                File.Copy(file, Path.Combine(app, Path.GetFileName(file)));
            }

            var nugetConfig = Path.Combine(app, "nuget.config");
            var config = await File.ReadAllTextAsync(nugetConfig);
            Assert.Contains("../../out/packages", config, StringComparison.Ordinal);
            await File.WriteAllTextAsync(nugetConfig, config.Replace("../../out/packages", packages, StringComparison.Ordinal));
            var build = await ProcessRunner.RunAsync(
                dotnet, ["build", "-c", "Release", "-o", Path.Combine(work.FullName, "out"), $"-p:EventsourcedVersion={version}"],
                BuildTimeout, DotnetBuild.CleanEnvironment([]), workingDirectory: app);
            Assert.True(build.ExitCode == 0, build.ToString());

            var port = FreePort.Next();
            await using var process = ServiceProcess.Start(dotnet, [Path.Combine(work.FullName, "out", "EventsourcedExample.dll")], new Dictionary<string, string?>
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["Eventsourced__broker__node__0"] = broker.AmqpUrl,
            });
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = System.Threading.Timeout.InfiniteTimeSpan };
            await Wait.UntilAsync(async () => (await client.GetAsync("/")).IsSuccessStatusCode, Timeout, $"the example answering on port {port}\n{process.Output}");

            var page = await client.GetStringAsync("/");
            var queue = broker.UniqueQueueName(nameof(PackedLibrary_InAnApplication_StreamsNextToItsOwnEndpoints));
            await using var stream = await SseClient.OpenAsync(client, $"/events?id={queue}", null, CancellationToken.None);
            await using var publisher = await broker.ConnectAsync(nameof(PackedLibrary_InAnApplication_StreamsNextToItsOwnEndpoints));
            await publisher.PublishAsync(queue, "hello from an application");

            Assert.Contains("new EventSource('/events?id='", page, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            Assert.Equal(["hello from an application"], await stream.ReadEventsAsync(1, Timeout));
        }
        finally
        {
            work.Delete(recursive: true);
            // The restore extracted this run's package into NuGet's global packages folder, where no later run asks for it:
            // each run left a copy behind.
            var globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            var copy = new DirectoryInfo(Path.Combine(globalPackages, "eventsourced", version.ToLowerInvariant()));
            if (copy.Exists)
            {
                copy.Delete(recursive: true);
            }
        }
    }
}
