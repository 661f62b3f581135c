using DotNet.Testcontainers.Configurations;

namespace Eventsourced.Testing.Brokers;

/// <summary>How the tests run the RabbitMQ brokers they start themselves.</summary>
public enum BrokerRuntime
{
    /// <summary>A <see cref="RabbitNode"/>: the installed <c>rabbitmq-server</c> (Debian's package) as a child process.</summary>
    Process,

    /// <summary>A <see cref="RabbitContainer"/>: RabbitMQ in a Docker container, through Testcontainers.</summary>
    Container,
}

/// <summary>What <c>EVENTSOURCED_TEST_BROKER</c> asks for.</summary>
public enum BrokerSetting
{
    Auto,
    Process,
    Container,
}

/// <summary>
/// Picks how the tests run the brokers they start themselves (the isolated broker always, the shared one
/// unless <c>EVENTSOURCED_TEST_AMQP</c> names a broker), from <c>EVENTSOURCED_TEST_BROKER</c>:
/// <c>container</c> (Testcontainers; an error without a Docker engine, never a quiet fallback),
/// <c>process</c> (the installed <c>rabbitmq-server</c>), or <c>auto</c>, the default: a container when
/// Testcontainers finds a Docker engine, a process otherwise.
/// </summary>
public static class BrokerChoice
{
    public const string Variable = "EVENTSOURCED_TEST_BROKER";

    private const string Allowed = "auto (the default: a container when a Docker engine is reachable, else a process), container, process";

    /// <summary>The choice for this test run: <see cref="Variable"/> and Testcontainers' own check for a Docker engine.</summary>
    public static BrokerRuntime FromEnvironment() => Choose(SettingFromEnvironment(), DockerEngine.IsReachable);

    /// <summary><see cref="Variable"/>, read with <see cref="Parse"/>.</summary>
    public static BrokerSetting SettingFromEnvironment() => Parse(Environment.GetEnvironmentVariable(Variable));

    /// <summary>The runtime for <paramref name="setting"/> (a value of <see cref="Variable"/>; null or blank is <c>auto</c>).</summary>
    /// <param name="isDockerReachable">Asked only for <c>auto</c> and <c>container</c>.</param>
    /// <exception cref="InvalidOperationException">Not a known value, or <c>container</c> without a Docker engine; the message names the variable and what it allows.</exception>
    public static BrokerRuntime Choose(string? setting, Func<bool> isDockerReachable) => Choose(Parse(setting), isDockerReachable);

    /// <summary>The runtime for a parsed <paramref name="setting"/>.</summary>
    /// <param name="isDockerReachable">Asked only for <c>auto</c> and <c>container</c>.</param>
    /// <exception cref="InvalidOperationException"><c>container</c> without a Docker engine; the message says what to do.</exception>
    public static BrokerRuntime Choose(BrokerSetting setting, Func<bool> isDockerReachable)
    {
        ArgumentNullException.ThrowIfNull(isDockerReachable);
        return setting switch
        {
            BrokerSetting.Process => BrokerRuntime.Process,
            BrokerSetting.Container => isDockerReachable()
                ? BrokerRuntime.Container
                : throw new InvalidOperationException(
                    $"{Variable}=container, but no Docker engine is reachable (Testcontainers found none: DOCKER_HOST, "
                    + "~/.testcontainers.properties, /var/run/docker.sock, Docker Desktop or rootless Docker). Start Docker, "
                    + $"or set {Variable}=process to run the installed rabbitmq-server, or {Variable}=auto to pick by itself."),
            _ => isDockerReachable() ? BrokerRuntime.Container : BrokerRuntime.Process,
        };
    }

    /// <summary>Reads a value of <see cref="Variable"/>: case and surrounding blanks do not matter, null or blank is <c>auto</c>.</summary>
    /// <exception cref="InvalidOperationException">Not one of auto, container, process; the message names the variable and what it allows.</exception>
    public static BrokerSetting Parse(string? setting) => setting?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => BrokerSetting.Auto,
        "process" => BrokerSetting.Process,
        "container" => BrokerSetting.Container,
        _ => throw new InvalidOperationException($"{Variable}='{setting}' is not a broker runtime; allowed: {Allowed}."),
    };
}

/// <summary>Whether a Docker engine is reachable.</summary>
public static class DockerEngine
{
    /// <summary>
    /// Testcontainers' own check: the first of its endpoint providers (DOCKER_HOST, ~/.testcontainers.properties,
    /// the Unix socket, Docker Desktop, rootless Docker...) that applies and answers a ping; checked once per
    /// test process, when first asked.
    /// </summary>
    public static bool IsReachable() => TestcontainersSettings.OS.DockerEndpointAuthConfig is not null;
}
