using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>The YAML file as a standard configuration source, and the inputs a reader must survive.</summary>
public sealed class YamlConfigurationProviderTests
{
    [Fact]
    public void Build_AsAStandardSource_GivesSectionKeysAndListIndexes()
    {
        using var file = new TempFile("server:\n  address: 127.0.0.1:80\n  path:\nbroker:\n  node:\n    - amqp://a/\n    - amqp://b/\nheader:\n  sse: {}\nqueue:\n  pattern: []\n");

        var configuration = new ConfigurationBuilder().Add(new YamlConfigurationSource { Path = file.Path }).Build();

        Assert.Equal("127.0.0.1:80", configuration["server:address"]);
        Assert.Null(configuration["server:path"]);
        Assert.Equal(["amqp://a/", "amqp://b/"], configuration.GetSection("broker:node").Get<string[]>()!);
        Assert.Equal(string.Empty, configuration["queue:pattern"]);
    }

    [Fact]
    public void Build_AsAStandardSourceWithBrokenYaml_ThrowsNamingFileAndLine()
    {
        using var file = new TempFile("server:\n  address: 'x\n");

        var ex = Assert.Throws<ConfigException>(() => new ConfigurationBuilder().Add(new YamlConfigurationSource { Path = file.Path }).Build());

        Assert.StartsWith($"{file.Path}:2: invalid YAML", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_FileNotUtf8_ReportsTheLineInsteadOfReplacingTheByte()
    {
        // "café" saved as Latin-1: the value must not silently become "caf\uFFFD" (a queue of another name).
        var path = TempFile.MissingPath();
        File.WriteAllBytes(path, [.. "queue:\n  prefetch: 8\n"u8, .. "  pattern: caf"u8, 0xE9, .. "\n"u8]);
        try
        {
            var ex = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([], path, ConfigTesting.NoEnvironment));

            Assert.Equal($"{path}:3: not UTF-8 text (save the file as UTF-8)", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_FileWithByteOrderMark_IsRead()
    {
        var path = TempFile.MissingPath();
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "queue:\n  pattern: caf\u00e9\n"u8]);
        try
        {
            Assert.Equal("caf\u00e9", ConfigTesting.LoadSources([], path, ConfigTesting.NoEnvironment).Options.Queue.Pattern);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_DirectoryAsFile_SaysItIsADirectory()
    {
        // Docker creates a directory where a missing host file is mounted: an optional path too is reported.
        var directory = Directory.CreateTempSubdirectory("eventsourced-test-");
        try
        {
            var required = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([], directory.FullName, ConfigTesting.NoEnvironment));
            var optional = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([directory.FullName], null, ConfigTesting.NoEnvironment));

            Assert.Equal($"{directory.FullName}: is a directory, not a file", required.Message);
            Assert.Equal($"{directory.FullName}: is a directory, not a file", optional.Message);
        }
        finally
        {
            directory.Delete();
        }
    }

    [Fact]
    public void Build_OptionalMissingFile_IsEmpty()
    {
        var configuration = new ConfigurationBuilder().Add(new YamlConfigurationSource { Path = TempFile.MissingPath(), Optional = true }).Build();

        Assert.Empty(configuration.AsEnumerable());
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(33)]
    public void Load_DeeplyNestedYaml_IsAProblemNotACrash(int depth)
    {
        var problems = ConfigTesting.Problems("server: " + new string('[', depth) + new string(']', depth) + "\n");

        var problem = Assert.Single(problems);
        Assert.StartsWith("FILE:1: invalid YAML: ", problem, StringComparison.Ordinal);
        Assert.Contains("nested deeper than 32 levels", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AliasesExpandingIntoEachOther_AreAProblemNotAHang()
    {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + string.Concat(Enumerable.Range(1, 9).Select(i =>
            $"b{i}: &b{i} [{string.Join(", ", Enumerable.Repeat(i == 1 ? "*a" : $"*b{i - 1}", 10))}]\n"));

        var problems = ConfigTesting.Problems(yaml);

        Assert.Contains("FILE: more than 100000 keys (aliases expanding into each other?)", problems);
    }
}
