using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

public sealed class ConfigLoaderDefaultsTests
{
    [Fact]
    public void Load_NoSources_HasTheOriginalsDefaults()
    {
        var loaded = ConfigTesting.LoadSources([], null, ConfigTesting.NoEnvironment);

        var o = loaded.Options;
        Assert.Empty(loaded.FilesRead);
        Assert.Equal("0.0.0.0:2069", o.Server.Address);
        Assert.Equal("/", o.Server.Path);
        Assert.Equal(["amqp://guest:guest@localhost:5672/"], o.Broker.Node);
        Assert.Equal("${query:id}", o.Queue.Pattern);
        Assert.Equal(1800, o.Queue.ExpiresSeconds);
        Assert.Equal(
            [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "GET, OPTIONS"), ("Access-Control-Allow-Headers", "Content-Type, Accept, Cache-Control, Authorization, Last-Event-ID"), ("Access-Control-Expose-Headers", "X-Status-Reason, Retry-After, WWW-Authenticate")],
            o.Header.Cors.Select(h => (h.Key, h.Value)));
        Assert.Equal(
            [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"), ("Transfer-Encoding", "identity"), ("X-Accel-Buffering", "no")],
            o.Header.Sse.Select(h => (h.Key, h.Value)));
    }

    [Fact]
    public void Load_NoSources_HasTheNewKeysDefaults()
    {
        var o = ConfigTesting.LoadSources([], null, ConfigTesting.NoEnvironment).Options;

        Assert.Equal((15, 10, 30), (o.Server.HeartbeatSeconds, o.Server.ShutdownTimeoutSeconds, o.Server.WriteTimeoutSeconds));
        Assert.Equal((30, 64), (o.Broker.ReconnectMaxSeconds, o.Queue.Prefetch));
        Assert.Equal(("information", "text"), (o.Log.Level, o.Log.Format));
    }

    [Fact]
    public void Load_MissingOptionalFile_IsSkipped()
    {
        using var present = new TempFile("server:\n  path: /events\n");
        var missing = TempFile.MissingPath();

        var loaded = ConfigTesting.LoadSources([missing, present.Path], null, ConfigTesting.NoEnvironment);

        Assert.Equal([present.Path], loaded.FilesRead);
        Assert.Equal("/events", loaded.Options.Server.Path);
    }

    [Fact]
    public void Load_FileWithOnlyComments_KeepsDefaultsAndCountsAsRead()
    {
        using var file = new TempFile("# nothing set here\n\n");

        var loaded = ConfigTesting.LoadSources([], file.Path, ConfigTesting.NoEnvironment);

        Assert.Equal([file.Path], loaded.FilesRead);
        Assert.Equal(ConfigPrinter.ToYaml(new GatewayOptions()), ConfigPrinter.ToYaml(loaded.Options));
    }

    [Fact]
    public void Load_MissingRequiredFile_ReportsFileNotFound()
    {
        var missing = TempFile.MissingPath();

        var ex = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([], missing, ConfigTesting.NoEnvironment));

        Assert.Equal($"{missing}: file not found", ex.Message);
    }

    [Fact]
    public void ForProcess_UsesTheDocumentedLocationsAndTheEventsourcedVariables()
    {
        var sources = ConfigSources.ForProcess("custom.yml");

        Assert.Equal(["/etc/eventsourced/config.yml", Path.Combine(AppContext.BaseDirectory, "config.yml")], sources.OptionalFiles);
        Assert.Equal("custom.yml", sources.RequiredFile);
        Assert.Equal("EVENTSOURCED_", sources.EnvironmentPrefix);
    }
}
