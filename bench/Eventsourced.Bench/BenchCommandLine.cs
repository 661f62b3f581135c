using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Eventsourced.Bench;

/// <summary>
/// The load tool's command line on System.CommandLine: every flag with its value syntax, its checks and its
/// help text. Values are checked while parsing, so that a bad one is a parse error naming the flag; the caller
/// reports parse errors (exit 2). A flag given twice takes its last value (build/bench.sh puts its own flags
/// first, so the user's come last and win); every value given is checked.
/// </summary>
internal sealed class BenchCommandLine
{
    private const string About = """
        The load tool of `make bench`: drives a running gateway over HTTP and its broker over AMQP, prints one
        line per scenario and a Markdown table. Sizes left unset take each scenario's target size.
        Exit codes: 0 clean, 1 a scenario failed, 2 bad usage, 3 a target missed (with --require-targets).
        """;

    /// <summary>Help lines are wrapped to the terminal; into a file or a pipe, to this many columns.</summary>
    private const int RedirectedHelpWidth = 110;

    private readonly Option<Uri> _gateway = Url("--gateway", "http",
        "the gateway's stream URL, e.g. http://127.0.0.1:2170/ (the queue goes in ?id=)");

    private readonly Option<Uri> _amqp = Url("--amqp", "amqp",
        "the broker the gateway consumes, e.g. amqp://guest:guest@127.0.0.1:5710/");

    private readonly Option<int?> _gatewayPid = Optional("--gateway-pid", "PID", 1,
        "the gateway's process: resident memory from /proc/PID/status (hold, slow), CPU time");

    private readonly Option<string?> _tokenSecret = new("--token-secret")
    {
        HelpName = "SECRET",
        Description = "the HS256 secret of a gateway that requires tokens (auth.jwt.secret, 32 bytes or more): every SSE " +
            "client sends a token of its own (?access_token=, claims sub and queues = its queue). Against --gateway, " +
            "or with --token-gateway, drain measures both gateways in the same rounds: tokens off, then on",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result =>
        {
            var value = result.Tokens.Count > 0 ? result.Tokens[^1].Value : null;
            if (value is not null && System.Text.Encoding.UTF8.GetByteCount(value) < 32)
            {
                result.AddError("--token-secret must be at least 32 bytes (an HS256 key)");
            }

            return value;
        },
    };

    private readonly Option<Uri?> _tokenGateway = new("--token-gateway")
    {
        HelpName = "URL",
        Description = "drain: a second gateway, configured like --gateway but requiring tokens signed with --token-secret",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => Uri.TryCreate(result.Tokens[^1].Value, UriKind.Absolute, out var uri) && uri.Scheme == "http"
            ? uri
            : Fail(result, $"--token-gateway takes an http:// URL, got '{result.Tokens[^1].Value}'"),
    };

    private readonly Option<int?> _tokenGatewayPid = Optional("--token-gateway-pid", "PID", 1,
        "the --token-gateway's process, for its CPU per message");

    private readonly Option<int?> _brokerPid = Optional("--broker-pid", "PID", 1,
        "the broker's process, to tell its CPU share from everything else's");

    private readonly Option<IReadOnlyList<string>> _scenarios = new("--scenario")
    {
        HelpName = "NAME",
        Description = "drain, live, hold, storm, slow, churn, fanout, resume or all (default all; a comma-separated list works, and so does " +
            "the flag given again)",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = ScenarioNames,
    };

    private readonly Option<int?> _queues = Optional("--queues", "N", 1,
        "drain: queues (default: both target shapes, 100 and 1,000)");

    private readonly Option<int?> _messages = Optional("--messages", "N", 1,
        "drain: messages per queue (default 1,000 for 100 queues, 100 for 1,000)");

    private readonly Option<int?> _streams = Optional("--streams", "N", 1,
        "live, hold, storm: concurrent streams (default: the target shapes, live 1,000 and 10,000, hold 10,000 and 15,000, storm 10,000); " +
        "fanout: subscribers (10,000); slow: slow clients (100); churn: clients (300); resume: subscribers (1,000)");

    private readonly Option<int?> _connecting = Optional("--connecting", "N", 0,
        "live: more subscribers that connect, all at once, one second into the measured part (default: the target " +
        "shapes 1,000 streams, 10,000 streams, and 10,000 streams while 2,000 connect)");

    private readonly Option<int?> _rate = Optional("--rate", "N", 1,
        "live, slow: messages per second over all streams (default 2,000); churn: (200); fanout: events per second (10); resume: (100)");

    private readonly Option<double?> _duration = new("--duration")
    {
        HelpName = "S",
        Description = "live, fanout, resume: seconds of publishing (30); slow: at most (90); hold: seconds held (20); churn: seconds of churn (600)",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = PositiveNumber,
    };

    private readonly Option<int> _settle = WithDefault("--settle", "S", 0, 15,
        "live, fanout: seconds between opening the streams and publishing; resume: at most 5");

    private readonly Option<int> _warmup = WithDefault("--warmup", "S", 0, 10,
        "live, fanout: seconds of publishing at the rate before the measured --duration; checked for delivery like the " +
        "rest, its latencies reported apart. drain: 0 skips the unmeasured first round (gateway and plain) that " +
        "warms both up");

    private readonly Option<int?> _size = Optional("--size", "N", 40,
        "message body bytes (default 64; slow 16,384)");

    private readonly Option<int> _repeat = WithDefault("--repeat", "N", 1, 3,
        "drain: rounds, gateway and plain alternating; live: runs, each gateway then plain consumers; medians reported");

    private readonly Option<int> _prefetch = WithDefault("--prefetch", "N", 1, 64,
        "the gateway's queue.prefetch, used by the plain consumers");

    private readonly Option<int> _expires = WithDefault("--expires", "S", 0, 1800,
        "the gateway's queue.expires, so pre-declared queues match it");

    private readonly Option<int> _sources = WithDefault("--sources", "N", 0, 8,
        "spread client connections over 127.0.0.2 .. 127.0.0.(N+1) (0 = no bind)");

    private readonly Option<double> _timeout = new("--timeout")
    {
        HelpName = "S",
        Description = "give up on a scenario's streams after S seconds",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => PositiveNumber(result) ?? 120,
        DefaultValueFactory = _ => 120,
    };

    private readonly Option<string?> _brokerCtl = new("--broker-ctl")
    {
        HelpName = "FILE",
        Description = "churn: an executable running rabbitmqctl against the broker, for its channel, consumer and queue counts",
    };

    private readonly Option<string?> _markdown = new("--markdown")
    {
        HelpName = "FILE",
        Description = "also write the results as a Markdown table to FILE",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => result.Tokens[^1].Value,
    };

    private readonly Option<bool> _markdownAppend = Flag("--markdown-append",
        "add the rows to FILE if it already has a table (one table over several runs)");

    private readonly Option<bool> _noBaseline = Flag("--no-baseline",
        "live: skip the plain-consumer run of the same load after the gateway's");

    private readonly Option<bool> _requireTargets = Flag("--require-targets",
        "exit 3 when a target is missed (failures always exit 1)");

    public BenchCommandLine()
    {
        _gateway.Required = true;
        _amqp.Required = true;
        Command = new RootCommand(About)
        {
            _gateway, _amqp, _gatewayPid, _brokerPid, _scenarios, _queues, _messages, _streams, _connecting, _rate, _duration,
            _settle, _warmup, _size, _repeat, _prefetch, _expires, _sources, _timeout, _markdown, _markdownAppend,
            _noBaseline, _requireTargets, _tokenSecret, _tokenGateway, _tokenGatewayPid, _brokerCtl,
        };
        foreach (var option in Command.Options)
        {
            switch (option)
            {
                case HelpOption help:
                    help.Description = "show this help";
                    if (Console.IsOutputRedirected && help.Action is HelpAction action)
                    {
                        action.MaxWidth = RedirectedHelpWidth;
                    }

                    break;
                case VersionOption version:
                    version.Description = "show the tool's version";
                    break;
            }
        }
    }

    public RootCommand Command { get; }

    public ParseResult Parse(IReadOnlyList<string> args) => Command.Parse(args);

    /// <summary>Writes what --help prints to another writer (stderr, after a usage error).</summary>
    public void WriteHelp(TextWriter writer) => Command.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = writer });

    /// <summary>The options of a parse without errors.</summary>
    public BenchOptions Bind(ParseResult result) => new()
    {
        Gateway = result.GetRequiredValue(_gateway),
        Amqp = result.GetRequiredValue(_amqp),
        GatewayPid = result.GetValue(_gatewayPid),
        BrokerPid = result.GetValue(_brokerPid),
        Scenarios = result.GetValue(_scenarios) is { Count: > 0 } scenarios ? scenarios : BenchOptions.AllScenarios,
        Queues = result.GetValue(_queues),
        Messages = result.GetValue(_messages),
        Streams = result.GetValue(_streams),
        Connecting = result.GetValue(_connecting),
        Rate = result.GetValue(_rate),
        Duration = result.GetValue(_duration),
        Size = result.GetValue(_size),
        Settle = result.GetValue(_settle),
        Warmup = result.GetValue(_warmup),
        Repeat = result.GetValue(_repeat),
        Prefetch = result.GetValue(_prefetch),
        ExpiresSeconds = result.GetValue(_expires),
        Sources = result.GetValue(_sources),
        Timeout = TimeSpan.FromSeconds(result.GetValue(_timeout)),
        Markdown = result.GetValue(_markdown),
        MarkdownAppend = result.GetValue(_markdownAppend),
        RequireTargets = result.GetValue(_requireTargets),
        Baseline = !result.GetValue(_noBaseline),
        TokenSecret = result.GetValue(_tokenSecret),
        TokenGateway = result.GetValue(_tokenGateway),
        TokenGatewayPid = result.GetValue(_tokenGatewayPid),
        BrokerCtl = result.GetValue(_brokerCtl),
    };

    private static Uri? Fail(ArgumentResult result, string error)
    {
        result.AddError(error);
        return null;
    }

    private static Option<Uri> Url(string name, string schemePrefix, string description) => new(name)
    {
        HelpName = "URL",
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result =>
        {
            Uri? last = null;
            foreach (var token in result.Tokens)
            {
                if (Uri.TryCreate(token.Value, UriKind.Absolute, out var uri) && uri.Scheme.StartsWith(schemePrefix, StringComparison.Ordinal))
                {
                    last = uri;
                }
                else
                {
                    result.AddError($"{name} takes an {schemePrefix}:// URL, got '{token.Value}'");
                }
            }

            return last;
        },
    };

    /// <summary>A whole number >= min whose default, when the flag is left out, depends on the scenario.</summary>
    private static Option<int?> Optional(string name, string helpName, int min, string description) => new(name)
    {
        HelpName = helpName,
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => WholeNumber(result, min),
    };

    /// <summary>A whole number >= min with one default, which the help shows.</summary>
    private static Option<int> WithDefault(string name, string helpName, int min, int defaultValue, string description) => new(name)
    {
        HelpName = helpName,
        Description = description,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result => WholeNumber(result, min) ?? defaultValue,
        DefaultValueFactory = _ => defaultValue,
    };

    /// <summary>A switch: present or not, never a value (`--no-baseline true` is an error).</summary>
    private static Option<bool> Flag(string name, string description) => new(name)
    {
        Description = description,
        Arity = ArgumentArity.Zero,
    };

    private static int? WholeNumber(ArgumentResult result, int min)
    {
        int? last = null;
        foreach (var token in result.Tokens)
        {
            if (int.TryParse(token.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) && number >= min)
            {
                last = number;
            }
            else
            {
                result.AddError($"{OptionName(result)} takes a whole number >= {min}, got '{token.Value}'");
            }
        }

        return last;
    }

    private static double? PositiveNumber(ArgumentResult result)
    {
        double? last = null;
        foreach (var token in result.Tokens)
        {
            if (double.TryParse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number > 0)
            {
                last = number;
            }
            else
            {
                result.AddError($"{OptionName(result)} takes a number > 0, got '{token.Value}'");
            }
        }

        return last;
    }

    /// <summary>Every --scenario value, split at commas, `all` expanded, each name once in the order first given.</summary>
    private static IReadOnlyList<string> ScenarioNames(ArgumentResult result)
    {
        var names = new List<string>();
        foreach (var token in result.Tokens)
        {
            foreach (var name in token.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (name == "all")
                {
                    names.AddRange(BenchOptions.AllScenarios);
                }
                else if (BenchOptions.AllScenarios.Contains(name))
                {
                    names.Add(name);
                }
                else
                {
                    result.AddError($"unknown scenario '{name}' (drain, live, hold, storm, slow, fanout, resume, all)");
                }
            }
        }

        return names.Distinct().ToArray();
    }

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.Option.Name : result.Argument.Name;
}
