namespace Eventsourced.Configuration;

/// <summary>
/// The inputs of <see cref="ConfigLoader.Load"/>, in the order they are layered: each optional file that
/// exists, then the required file (missing is an error), then the environment variables whose names start
/// with <see cref="EnvironmentPrefix"/>, read by the standard prefixed provider.
/// </summary>
public sealed record ConfigSources(IReadOnlyList<string> OptionalFiles, string? RequiredFile, string EnvironmentPrefix = ConfigSources.DefaultEnvironmentPrefix)
{
    /// <summary>The system-wide file the original read first.</summary>
    public const string SystemFile = "/etc/eventsourced/config.yml";

    /// <summary><c>EVENTSOURCED_SECTION__KEY</c>: ASP.NET Core's convention, any case.</summary>
    public const string DefaultEnvironmentPrefix = "EVENTSOURCED_";

    /// <summary>The sources of a running gateway: <see cref="SystemFile"/>, <c>config.yml</c> next to the executable, <paramref name="requiredFile"/> (from <c>--config</c>) and the environment.</summary>
    public static ConfigSources ForProcess(string? requiredFile) =>
        new([SystemFile, Path.Combine(AppContext.BaseDirectory, "config.yml")], requiredFile);
}
