using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>
/// The result of <see cref="ConfigLoader"/>: the merged configuration (plain keys, for the standard binder),
/// where each key came from, the options bound from it, and the files read, in order.
/// </summary>
public sealed class LoadedConfig
{
    internal LoadedConfig(
        IConfiguration configuration, ConfigOrigins origins, GatewayOptions options, IReadOnlyList<string> filesRead,
        IReadOnlyList<ConfigProblem> sourceProblems, IReadOnlyList<ConfigProblem> problems)
    {
        SourceProblems = sourceProblems;
        Configuration = configuration;
        Origins = origins;
        Options = options;
        FilesRead = filesRead;
        Problems = problems;
    }

    /// <summary>Every key the sources set, layered: what the gateway's options bind from.</summary>
    public IConfiguration Configuration { get; }

    public GatewayOptions Options { get; }

    public IReadOnlyList<string> FilesRead { get; }

    internal ConfigOrigins Origins { get; }

    /// <summary>The problems of the sources themselves (unreadable files, unknown keys, wrong shapes), found before binding.</summary>
    internal IReadOnlyList<ConfigProblem> SourceProblems { get; }

    /// <summary>Every problem, in source order; empty for a configuration the gateway can start with.</summary>
    internal IReadOnlyList<ConfigProblem> Problems { get; }

    /// <exception cref="ConfigException">There are <see cref="Problems"/>.</exception>
    public LoadedConfig ThrowIfInvalid() => Problems.Count == 0 ? this : throw new ConfigException(Problems);
}
