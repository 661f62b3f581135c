using System.CommandLine;
using System.CommandLine.Parsing;

namespace Eventsourced.Cli;

/// <summary>
/// The parsed flags of <c>eventsourced</c>, parsed by System.CommandLine. What to do when several are given
/// (help, then version, then dump) is the executable's choice; this type only records them. The help text
/// is our own (<see cref="Usage"/>, in <c>CommandLine.Usage.cs</c>): it lists the configuration sources and
/// exit codes, which a generated help has no place for.
/// </summary>
public sealed partial class CommandLine
{
    private const string ConfigFlag = "--config";
    private const string NeedsFile = $"{ConfigFlag} needs a FILE: {ConfigFlag} FILE or {ConfigFlag}=FILE";

    private static readonly Option<string[]> Config = new(ConfigFlag)
    {
        // Each --config takes one value; more than one --config is refused below with its own message.
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<bool> Dump = new("--dump-config", "-c");
    private static readonly Option<bool> VersionFlag = new("--version", "-v");
    private static readonly Option<bool> HelpFlag = new("--help", "-h");
    private static readonly Command Root = BuildRoot();

    // No "-cv" bundles (an unknown option, as before) and no "@file" response files: a server's arguments are literal.
    private static readonly ParserConfiguration Parsing = new() { EnablePosixBundling = false, ResponseFileTokenReplacer = null };

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
        var result = Root.Parse(args, Parsing);
        if (result.UnmatchedTokens.Count > 0)
        {
            var token = result.UnmatchedTokens[0];
            throw new UsageException(token.StartsWith('-') ? $"unknown option '{token}'" : $"unexpected argument '{token}'");
        }

        if (result.Errors.Count > 0)
        {
            throw new UsageException(result.Errors[0].Message);
        }

        return new CommandLine
        {
            DumpConfig = result.GetValue(Dump),
            Version = result.GetValue(VersionFlag),
            Help = result.GetValue(HelpFlag),
            ConfigFile = result.GetValue(Config) is [var file] ? file : null,
        };
    }

    private static Command BuildRoot()
    {
        Config.Validators.Add(static option =>
        {
            if (option.Tokens.Count > 1 || option.IdentifierTokenCount > 1)
            {
                option.AddError($"{ConfigFlag} given more than once");
            }
            else if (option.Tokens is not [{ Value.Length: > 0 }])
            {
                option.AddError(NeedsFile);
            }
        });
        var root = new RootCommand();
        root.Options.Clear(); // the generated --help and --version: ours print what the README documents
        root.Options.Add(Config);
        root.Options.Add(Dump);
        root.Options.Add(VersionFlag);
        root.Options.Add(HelpFlag);
        root.TreatUnmatchedTokensAsErrors = false; // reported above, in our words
        return root;
    }
}
