namespace Eventsourced.Cli;

/// <summary>
/// The parsed flags of <c>eventsourced</c>. What to do when several are given (help, then version, then
/// dump) is the executable's choice; this type only records them. <see cref="Usage"/> is in <c>CommandLine.Usage.cs</c>.
/// </summary>
public sealed partial class CommandLine
{
    private const string ConfigFlag = "--config";

    private CommandLine()
    {
    }

    /// <summary><c>-c</c>, <c>--dump-config</c>: print the effective configuration and exit 0.</summary>
    public bool DumpConfig { get; private init; }

    /// <summary><c>-v</c>, <c>--version</c>.</summary>
    public bool Version { get; private init; }

    /// <summary><c>-h</c>, <c>--help</c>.</summary>
    public bool Help { get; private init; }

    /// <summary><c>--config FILE</c> / <c>--config=FILE</c>: a file that must exist, read after the default locations.</summary>
    public string? ConfigFile { get; private init; }

    /// <exception cref="UsageException">An unknown flag, an argument that is not a flag, or <c>--config</c> without a FILE or twice.</exception>
    public static CommandLine Parse(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool dump = false, version = false, help = false;
        string? config = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "-c" or "--dump-config":
                    dump = true;
                    break;
                case "-v" or "--version":
                    version = true;
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                case ConfigFlag:
                    // A following flag is not taken for a file name: "--config -c" is a missing FILE.
                    var next = i + 1 < args.Length ? args[++i] : string.Empty;
                    config = ConfigOnce(config, next.StartsWith('-') ? string.Empty : next);
                    break;
                case var _ when arg.StartsWith(ConfigFlag + "=", StringComparison.Ordinal):
                    config = ConfigOnce(config, arg[(ConfigFlag.Length + 1)..]);
                    break;
                default:
                    throw new UsageException(arg.StartsWith('-') ? $"unknown option '{arg}'" : $"unexpected argument '{arg}'");
            }
        }

        return new CommandLine { DumpConfig = dump, Version = version, Help = help, ConfigFile = config };
    }

    private static string ConfigOnce(string? previous, string file) =>
        previous is not null ? throw new UsageException($"{ConfigFlag} given more than once")
        : file.Length == 0 ? throw new UsageException($"{ConfigFlag} needs a FILE: {ConfigFlag} FILE or {ConfigFlag}=FILE")
        : file;
}
