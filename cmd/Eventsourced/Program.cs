using Eventsourced.Configuration;
using Eventsourced.Cli;
using Eventsourced.Hosting;

// The executable: flags, configuration, host. Everything else is the library's.
CommandLine commandLine;
try
{
    commandLine = CommandLine.Parse(args);
}
catch (UsageException ex)
{
    await Console.Error.WriteLineAsync($"eventsourced: {ex.Message}\n\n{CommandLine.Usage}");
    return ExitCodes.UsageError;
}

if (commandLine.Help)
{
    await Console.Out.WriteAsync(CommandLine.Usage);
    return ExitCodes.Success;
}

if (commandLine.Version)
{
    await Console.Out.WriteLineAsync($"eventsourced {GatewayVersion.Current}");
    return ExitCodes.Success;
}

LoadedConfig config;
try
{
    config = ConfigLoader.Read(ConfigSources.ForProcess(commandLine.ConfigFile));
    if (config.Problems.Count > 0 && GatewayApplication.LogsConfigurationProblemsAsJson(config))
    {
        // log.format: json was read (file or environment): one JSON log entry per problem on stdout, like every other line.
        GatewayApplication.LogConfigurationProblems(config);
        return ExitCodes.ConfigError;
    }

    config.ThrowIfInvalid();
}
catch (ConfigException ex)
{
    await Console.Error.WriteLineAsync($"eventsourced: invalid configuration\n{ex.Message}");
    return ExitCodes.ConfigError;
}

if (commandLine.DumpConfig)
{
    await Console.Out.WriteAsync(ConfigPrinter.ToYaml(config.Options));
    return ExitCodes.Success;
}

try
{
    await using var app = GatewayApplication.Build(config);
    await app.RunAsync();
    return ExitCodes.Success;
}
catch (ConfigException ex)
{
    // The files the configuration names changed after it was checked (a server.tls renewal half written at start).
    if (GatewayApplication.LogsConfigurationProblemsAsJson(config))
    {
        // Like the loader's problems: one JSON log entry per problem on stdout (event 151), not plain text on stderr.
        GatewayApplication.LogConfigurationProblems(ex);
    }
    else
    {
        await Console.Error.WriteLineAsync($"eventsourced: invalid configuration\n{ex.Message}");
    }

    return ExitCodes.ConfigError;
}
catch (IOException ex)
{
    // A listen address (server.address or metrics.address) that is taken, denied or not ours, or a host name that does
    // not resolve: GatewayApplication.Build tries each before anything starts, and the message names key, address and why.
    if (config.Options.Log.IsJson)
    {
        GatewayApplication.LogCannotListen(config.Options.Log, ex.Message);
    }
    else
    {
        await Console.Error.WriteLineAsync($"eventsourced: cannot listen: {ex.Message}");
    }

    return ExitCodes.Unavailable;
}

/// <summary>The executable's exit codes: the BSD sysexits values for its errors.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int UsageError = 64;   // EX_USAGE
    public const int Unavailable = 69;  // EX_UNAVAILABLE: cannot listen
    public const int ConfigError = 78;  // EX_CONFIG
}
