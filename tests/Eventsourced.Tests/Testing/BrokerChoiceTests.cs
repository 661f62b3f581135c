using Eventsourced.Testing.Brokers;

namespace Eventsourced.Tests.Testing;

/// <summary>EVENTSOURCED_TEST_BROKER × whether a Docker engine is reachable → how the suites run their brokers.</summary>
public sealed class BrokerChoiceTests
{
    [Theory]
    [InlineData(null, true, BrokerRuntime.Container)]
    [InlineData(null, false, BrokerRuntime.Process)]
    [InlineData("", true, BrokerRuntime.Container)]
    [InlineData("  ", false, BrokerRuntime.Process)]
    [InlineData("auto", true, BrokerRuntime.Container)]
    [InlineData("auto", false, BrokerRuntime.Process)]
    [InlineData(" AUTO ", false, BrokerRuntime.Process)]
    [InlineData("container", true, BrokerRuntime.Container)]
    [InlineData("Container", true, BrokerRuntime.Container)]
    [InlineData("process", true, BrokerRuntime.Process)]
    [InlineData("process", false, BrokerRuntime.Process)]
    [InlineData("PROCESS\n", false, BrokerRuntime.Process)]
    public void Choose_SettingAndDocker_PicksTheRuntime(string? setting, bool dockerReachable, BrokerRuntime expected)
    {
        Assert.Equal(expected, BrokerChoice.Choose(setting, () => dockerReachable));
    }

    [Theory]
    [InlineData("process")]
    [InlineData(" Process ")]
    public void Choose_Process_NeverAsksForDocker(string setting)
    {
        var asked = 0;

        var runtime = BrokerChoice.Choose(setting, () => ++asked > 0);

        Assert.Equal(BrokerRuntime.Process, runtime);
        Assert.Equal(0, asked);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("auto")]
    [InlineData("container")]
    public void Choose_AutoOrContainer_AsksForDockerOnce(string? setting)
    {
        var asked = 0;

        BrokerChoice.Choose(setting, () => ++asked > 0);

        Assert.Equal(1, asked);
    }

    [Fact]
    public void Choose_ContainerWithoutDocker_FailsNamingTheVariableAndTheWayOut()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BrokerChoice.Choose("container", () => false));

        Assert.Contains("EVENTSOURCED_TEST_BROKER=container", error.Message, StringComparison.Ordinal);
        Assert.Contains("no Docker engine is reachable", error.Message, StringComparison.Ordinal);
        Assert.Contains("EVENTSOURCED_TEST_BROKER=process", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("containers")]
    [InlineData("proc")]
    [InlineData("1")]
    [InlineData("auto,process")]
    public void Choose_UnknownValue_FailsNamingTheVariableAndTheAllowedValues_WithoutAskingForDocker(string setting)
    {
        var asked = 0;

        var error = Assert.Throws<InvalidOperationException>(() => BrokerChoice.Choose(setting, () => ++asked > 0));

        Assert.Contains($"EVENTSOURCED_TEST_BROKER='{setting}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("allowed: auto", error.Message, StringComparison.Ordinal);
        Assert.Contains("container, process", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, asked);
    }

    [Theory]
    [InlineData(null, BrokerSetting.Auto)]
    [InlineData("auto", BrokerSetting.Auto)]
    [InlineData("container", BrokerSetting.Container)]
    [InlineData("process", BrokerSetting.Process)]
    public void Parse_KnownValue_ReadsIt(string? setting, BrokerSetting expected)
    {
        Assert.Equal(expected, BrokerChoice.Parse(setting));
    }
}
