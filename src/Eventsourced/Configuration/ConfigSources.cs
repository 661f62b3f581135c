using System.Collections;

namespace Eventsourced.Configuration;

/// <summary>
/// The inputs of <see cref="ConfigLoader.Load"/>, in the order they are layered: each optional file that
/// exists, then the required file (missing is an error), then the <c>EVENTSOURCED_*</c> variables.
/// </summary>
public sealed record ConfigSources(
    IReadOnlyList<string> OptionalFiles,
    string? RequiredFile,
    IReadOnlyDictionary<string, string?> Environment)
{
    /// <summary>The system-wide file the original read first.</summary>
    public const string SystemFile = "/etc/eventsourced/config.yml";

    /// <summary>
    /// The sources of a running gateway: <see cref="SystemFile"/>, <c>config.yml</c> next to the executable,
    /// <paramref name="requiredFile"/> (from <c>--config</c>) and the process environment.
    /// </summary>
    public static ConfigSources ForProcess(string? requiredFile)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            environment[(string)entry.Key] = (string?)entry.Value;
        }

        string[] optional = [SystemFile, Path.Combine(AppContext.BaseDirectory, "config.yml")];
        return new ConfigSources(optional, requiredFile, environment);
    }
}
