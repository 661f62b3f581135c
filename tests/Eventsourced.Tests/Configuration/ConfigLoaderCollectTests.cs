using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

public sealed class ConfigLoaderCollectTests
{
    [Fact]
    public void Load_ManyProblems_ReportsAllInSourceOrder()
    {
        using var optional = new TempFile("server:\n  path: nope\nqueue:\n  prefetch: 0\n");
        var missing = TempFile.MissingPath();
        var environment = ConfigTesting.Env(
            ("EVENTSOURCED_LOG__LEVEL", "loud"),
            ("EVENTSOURCED_SERVER__ADDRESS", "nowhere"));

        var ex = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([optional.Path], missing, environment));

        Assert.Equal(
            [
                $"{optional.Path}:2: server.path: must start with '/', got 'nope'",
                $"{optional.Path}:4: queue.prefetch: must be from 1 to 65535, got 0",
                $"{missing}: file not found",
                "environment EVENTSOURCED_LOG__LEVEL: log.level: expected one of trace, debug, information, warning, error, critical, got 'loud'",
                "environment EVENTSOURCED_SERVER__ADDRESS: server.address: expected host:port, got 'nowhere'",
            ],
            ex.Problems);
        Assert.Equal(string.Join('\n', ex.Problems), ex.Message);
    }

    [Fact]
    public void Load_ProblemsInOneSection_AreAllReported()
    {
        var problems = ConfigTesting.Problems(
            "server:\n  address: x\n  bogus: 1\n  heartbeat: -1\nbroker:\n  node:\n    - ftp://a/\n    - amqp://b/\n    - ''\n");

        Assert.Equal(
            [
                "FILE:2: server.address: expected host:port, got 'x'",
                "FILE:3: server.bogus: unknown key (known: address, path, heartbeat, shutdown_timeout, drain_delay, write_timeout, hosts, tls)",
                "FILE:4: server.heartbeat: must be from 0 to 3600, got -1",
                "FILE:7: broker.node[0]: invalid broker URL: unsupported scheme 'ftp' (use amqp:// or amqps://)",
                "FILE:9: broker.node[2]: empty value",
            ],
            problems);
    }

    [Fact]
    public void Load_BrokerNodesOfAnotherVirtualHost_AreRefusedNamingEntryAndLine()
    {
        // The entries are one pool: a queue named in vhost a is another queue in vhost b, and the broker lets one
        // subscriber per vhost through. "amqp://c" and "amqp://d//" are the vhost "/", as "amqp://a/" is.
        var problems = ConfigTesting.Problems(
            "broker:\n  node:\n    - amqp://a/\n    - amqp://u:p@b:5673/shop\n    - amqp://c\n    - amqp://d/%2F\n    - amqp://a/shop\n");

        Assert.Equal(
            [
                "FILE:4: broker.node[1]: virtual host 'shop' differs from '/' of broker.node[0]: every entry must name the same virtual host (subscriptions go through any of them; run a gateway per virtual host)",
                "FILE:7: broker.node[4]: virtual host 'shop' differs from '/' of broker.node[0]: every entry must name the same virtual host (subscriptions go through any of them; run a gateway per virtual host)",
            ],
            problems);
    }

    [Fact]
    public void Load_BrokerNodesOfOneVirtualHost_OtherHostsPortsAndUsers_AreTaken()
    {
        var options = ConfigTesting.Load(
            "broker:\n  node:\n    - amqp://alice:x@rabbit-1:5672/shop\n    - amqp://bob:y@rabbit-1:5672/shop\n    - amqps://rabbit-2/shop\n");

        Assert.Equal(3, options.Broker.Node.Count);
    }

    [Fact]
    public void Load_BrokenYamlInOneFile_StillChecksTheOthers()
    {
        using var broken = new TempFile("server: [\n");
        using var bad = new TempFile("queue:\n  prefetch: x\n");

        var ex = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([broken.Path], bad.Path, ConfigTesting.NoEnvironment));

        Assert.Equal(2, ex.Problems.Count);
        Assert.StartsWith($"{broken.Path}:", ex.Problems[0], StringComparison.Ordinal);
        Assert.Equal($"{bad.Path}:2: queue.prefetch: expected a whole number, got 'x'", ex.Problems[1]);
    }

    [Fact]
    public void ToString_ThrownConfigException_HasNoStackTrace()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([], TempFile.MissingPath(), ConfigTesting.NoEnvironment));

        Assert.Null(ex.StackTrace);
        Assert.Equal(ex.Message, ex.ToString());
        Assert.DoesNotContain(" at ", ex.ToString(), StringComparison.Ordinal);
    }
}
