using Eventsourced.Cli;

namespace Eventsourced.Tests.Cli;

public sealed class CommandLineTests
{
    [Fact]
    public void Parse_NoArguments_SetsNothing()
    {
        var line = CommandLine.Parse([]);

        Assert.Equal((false, false, false, null), (line.DumpConfig, line.Version, line.Help, line.ConfigFile));
    }

    [Theory]
    [InlineData("-c", true, false, false)]
    [InlineData("--dump-config", true, false, false)]
    [InlineData("-v", false, true, false)]
    [InlineData("--version", false, true, false)]
    [InlineData("-h", false, false, true)]
    [InlineData("--help", false, false, true)]
    public void Parse_OneFlag_SetsItsProperty(string flag, bool dump, bool version, bool help)
    {
        var line = CommandLine.Parse([flag]);

        Assert.Equal((dump, version, help), (line.DumpConfig, line.Version, line.Help));
        Assert.Null(line.ConfigFile);
    }

    [Theory]
    [InlineData("--config", "my.yml")]
    [InlineData("--config=my.yml")]
    public void Parse_ConfigFile_IsTaken(params string[] args) =>
        Assert.Equal("my.yml", CommandLine.Parse(args).ConfigFile);

    [Fact]
    public void Parse_SeveralFlags_AreAllSet()
    {
        var line = CommandLine.Parse(["--config", "/etc/x.yml", "-c", "--help"]);

        Assert.Equal(("/etc/x.yml", true, true, false), (line.ConfigFile, line.DumpConfig, line.Help, line.Version));
    }

    [Theory]
    [InlineData("unknown option '--nope'", "--nope")]
    [InlineData("unknown option '-cv'", "-cv")]
    [InlineData("unknown option '--CONFIG=x'", "--CONFIG=x")]
    [InlineData("unexpected argument 'config.yml'", "config.yml")]
    [InlineData("--config needs a FILE: --config FILE or --config=FILE", "--config")]
    [InlineData("--config needs a FILE: --config FILE or --config=FILE", "--config=")]
    [InlineData("--config needs a FILE: --config FILE or --config=FILE", "--config", "-c")]
    [InlineData("--config given more than once", "--config", "a.yml", "--config=b.yml")]
    public void Parse_BadArguments_ThrowsUsageException(string expected, params string[] args)
    {
        var ex = Assert.Throws<UsageException>(() => CommandLine.Parse(args));

        Assert.Equal(expected, ex.Message);
        Assert.Equal(ex.Message, ex.ToString());
        Assert.Null(ex.StackTrace);
    }

    [Fact]
    public void Usage_NamesFlagsSourcesInOrderAndExitCodes()
    {
        var usage = CommandLine.Usage;

        Assert.StartsWith("Usage: eventsourced ", usage, StringComparison.Ordinal);
        foreach (var text in new[] { "--config FILE", "--config=FILE", "-c, --dump-config", "-v, --version", "-h, --help", "EVENTSOURCED_SERVER__ADDRESS" })
        {
            Assert.Contains(text, usage, StringComparison.Ordinal);
        }

        var order = new[] { "built-in defaults", "/etc/eventsourced/config.yml", "directory of the executable", "the --config FILE", "environment variables" }
            .Select(text => usage.IndexOf(text, StringComparison.Ordinal))
            .ToArray();
        Assert.DoesNotContain(-1, order);
        Assert.Equal(order.Order(), order);
        Assert.Matches(@"\n\s+0\s+success", usage);
        Assert.Matches(@"\n\s+64\s+bad command line", usage);
        Assert.Matches(@"\n\s+78\s+configuration error", usage);
    }
}
