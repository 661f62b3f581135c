namespace Eventsourced.Tests.Configuration;

public sealed class ConfigLoaderAliasTests
{
    [Fact]
    public void Load_OriginalsExpireSpelling_SetsExpires()
    {
        var options = ConfigTesting.Load("queue:\n  expire: 60\n");

        Assert.Equal(60, options.Queue.ExpiresSeconds);
    }

    [Fact]
    public void Load_ExpireAndExpiresInOneFile_ReportsTheConflict()
    {
        var problems = ConfigTesting.Problems("queue:\n  expire: 60\n  expires: 70\n");

        Assert.Equal(["FILE:3: queue.expires: conflicts with queue.expire (line 2); give only one of them"], problems);
    }

    [Fact]
    public void Load_ExpireInFileAndExpiresInEnvironment_EnvironmentWins()
    {
        var options = ConfigTesting.Load("queue:\n  expire: 60\n", ConfigTesting.Env(("EVENTSOURCED_QUEUE__EXPIRES", "70")));

        Assert.Equal(70, options.Queue.ExpiresSeconds);
    }

    [Fact]
    public void Load_ExpireAliasInEnvironment_SetsExpires()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_QUEUE__EXPIRE", "0"));

        Assert.Equal(0, options.Queue.ExpiresSeconds);
    }

    [Fact]
    public void Load_ExpireAndExpiresInEnvironment_ReportsTheConflict()
    {
        var problems = ConfigTesting.EnvironmentProblems(("EVENTSOURCED_QUEUE__EXPIRE", "1"), ("EVENTSOURCED_QUEUE__EXPIRES", "2"));

        Assert.Equal(["environment EVENTSOURCED_QUEUE__EXPIRES: queue.expires: conflicts with queue.expire (EVENTSOURCED_QUEUE__EXPIRE); give only one of them"], problems);
    }
}
