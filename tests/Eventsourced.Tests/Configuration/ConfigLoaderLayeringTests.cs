
namespace Eventsourced.Tests.Configuration;

public sealed class ConfigLoaderLayeringTests
{
    [Fact]
    public void Load_TwoFilesAndEnvironment_LaterLayersWin()
    {
        using var first = new TempFile("server:\n  address: 127.0.0.1:1000\n  path: /first\n  heartbeat: 5\n");
        using var second = new TempFile("server:\n  address: 127.0.0.2:2000\n  path: /second\n");
        var environment = ConfigTesting.Env(("EVENTSOURCED_SERVER__ADDRESS", "127.0.0.3:3000"));

        var loaded = ConfigTesting.LoadSources([first.Path], second.Path, environment);

        Assert.Equal([first.Path, second.Path], loaded.FilesRead);
        Assert.Equal("127.0.0.3:3000", loaded.Options.Server.Address);
        Assert.Equal("/second", loaded.Options.Server.Path);
        Assert.Equal(5, loaded.Options.Server.HeartbeatSeconds);
        Assert.Equal(10, loaded.Options.Server.ShutdownTimeoutSeconds);
    }

    [Fact]
    public void Load_OptionalFiles_AreReadInTheGivenOrder()
    {
        using var first = new TempFile("queue:\n  prefetch: 1\n");
        using var second = new TempFile("queue:\n  prefetch: 2\n");

        var loaded = ConfigTesting.LoadSources([second.Path, first.Path], null, ConfigTesting.NoEnvironment);

        Assert.Equal([second.Path, first.Path], loaded.FilesRead);
        Assert.Equal(1, loaded.Options.Queue.Prefetch);
    }

    [Fact]
    public void Load_NodeListInLaterFile_ReplacesTheWholeList()
    {
        using var first = new TempFile("broker:\n  node:\n    - amqp://a/\n    - amqp://b/\n");
        using var second = new TempFile("broker:\n  node:\n    - amqp://c/\n");

        var loaded = ConfigTesting.LoadSources([first.Path], second.Path, ConfigTesting.NoEnvironment);

        Assert.Equal(["amqp://c/"], loaded.Options.Broker.Node);
    }

    [Fact]
    public void Load_HeaderMapInLaterLayer_MergesByNameIgnoringCase()
    {
        var options = ConfigTesting.Load(
            "header:\n  cors:\n    access-control-allow-origin: https://example.org\n    X-Extra: 1\n",
            ConfigTesting.Env(("EVENTSOURCED_HEADER__SSE__X-From-Env", "yes")));

        Assert.Equal(
            [("access-control-allow-origin", "https://example.org"), ("Access-Control-Allow-Methods", "GET, OPTIONS"), ("Access-Control-Allow-Headers", "Content-Type, Accept, Cache-Control, Authorization, Last-Event-ID"), ("Access-Control-Expose-Headers", "X-Status-Reason, Retry-After, WWW-Authenticate"), ("X-Extra", "1")],
            options.Header.Cors.OrderBy(h => h.Key == "X-Extra").Select(h => (h.Key, h.Value)));
        Assert.Equal(5, options.Header.Sse.Count);
        Assert.Equal("yes", options.Header.Sse["x-from-env"]);
    }

    [Fact]
    public void Load_HeaderWithEmptyOrNullValue_IsRemoved()
    {
        var options = ConfigTesting.Load(
            "header:\n  cors:\n    Access-Control-Allow-Methods: ''\n    Access-Control-Allow-Headers: ~\n  sse:\n    x-accel-buffering:\n");

        Assert.Equal(["Access-Control-Allow-Origin", "Access-Control-Expose-Headers"], options.Header.Cors.Keys);
        Assert.False(options.Header.Sse.ContainsKey("X-Accel-Buffering"));
        Assert.Equal(3, options.Header.Sse.Count);
    }

    [Fact]
    public void Load_EnvironmentHeaderWithEmptyValue_IsRemoved()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_HEADER__SSE__Transfer-Encoding", ""));

        Assert.Equal(["Content-Type", "Cache-Control", "X-Accel-Buffering"], options.Header.Sse.Keys);
    }

    [Fact]
    public void Load_KeyWithoutValue_KeepsTheEarlierValue()
    {
        using var first = new TempFile("server:\n  heartbeat: 5\nbroker:\n  node:\n    - amqp://a/\n");
        using var second = new TempFile("server:\n  heartbeat:\nbroker:\n  node: ~\nheader:\n");

        var options = ConfigTesting.LoadSources([first.Path], second.Path, ConfigTesting.NoEnvironment).Options;

        Assert.Equal(5, options.Server.HeartbeatSeconds);
        Assert.Equal(["amqp://a/"], options.Broker.Node);
    }

    [Fact]
    public void Load_AnchorsAndAliases_AreResolved()
    {
        var options = ConfigTesting.Load("broker:\n  node:\n    - &main amqp://main/\n    - *main\n");

        Assert.Equal(["amqp://main/", "amqp://main/"], options.Broker.Node);
    }

    [Fact]
    public void Load_BadValueThroughAnAlias_IsReportedAtTheAliasLine() =>
        Assert.Equal(
            ["FILE:3: server.write_timeout: must be from 1 to 3600, got 0"],
            ConfigTesting.Problems("server:\n  heartbeat: &h 0\n  write_timeout: *h\n"));
}
