using System.Globalization;

namespace Eventsourced.Bench;

/// <summary>The command line of the load tool. Sizes left unset take each scenario's target size.</summary>
internal sealed class BenchOptions
{
    public const string Usage = """
        usage: Eventsourced.Bench --gateway URL --amqp URL [options]

          --gateway URL        the gateway's stream URL, e.g. http://127.0.0.1:2170/ (the queue goes in ?id=)
          --amqp URL           the broker the gateway consumes, e.g. amqp://guest:guest@127.0.0.1:5710/
          --gateway-pid PID    the gateway's process: resident memory from /proc/PID/status (hold, slow), CPU time
          --broker-pid PID     the broker's process, to tell its CPU share from everything else's
          --scenario NAME      drain, live, hold, storm, slow or all (default all; a comma-separated list works)
          --queues N           drain: queues (default: both target shapes, 100 and 1,000)
          --messages N         drain: messages per queue (default 1,000 for 100 queues, 100 for 1,000)
          --streams N          live, hold, storm: concurrent streams (default 10,000); slow: slow clients (100)
          --rate N             live, slow: messages per second over all streams (default 2,000)
          --duration S         live: seconds of publishing (30); slow: at most (90); hold: seconds held (20)
          --settle S           live: seconds between opening the streams and publishing (default 15)
          --warmup S           live: seconds of publishing at the rate before the measured --duration (default 10);
                               checked for delivery like the rest, its latencies reported apart.
                               drain: 0 skips the unmeasured first round (gateway and plain) that warms both up
          --size N             message body bytes (default 64; slow 16,384)
          --repeat N           drain: rounds, gateway and plain alternating; medians reported (default 3)
          --prefetch N         the gateway's queue.prefetch, used by the plain consumers (default 64)
          --expires S          the gateway's queue.expires, so pre-declared queues match it (default 1800)
          --sources N          spread client connections over 127.0.0.2 .. 127.0.0.(N+1) (default 8; 0 = no bind)
          --timeout S          give up on a scenario's streams after S seconds (default 120)
          --markdown FILE      also write the results as a Markdown table to FILE
          --markdown-append    add the rows to FILE if it already has a table (one table over several runs)
          --no-baseline        live: skip the plain-consumer run of the same load after the gateway's
          --require-targets    exit 3 when a target is missed (failures always exit 1)
        """;

    public required Uri Gateway { get; init; }

    public required Uri Amqp { get; init; }

    public int? GatewayPid { get; init; }

    public int? BrokerPid { get; init; }

    public required IReadOnlyList<string> Scenarios { get; init; }

    public int? Queues { get; init; }

    public int? Messages { get; init; }

    public int? Streams { get; init; }

    public int? Rate { get; init; }

    public double? Duration { get; init; }

    public int? Size { get; init; }

    public int Repeat { get; init; } = 3;

    public int Prefetch { get; init; } = 64;

    public int Settle { get; init; } = 15;

    public int Warmup { get; init; } = 10;

    public int ExpiresSeconds { get; init; } = 1800;

    public int Sources { get; init; } = 8;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    public string? Markdown { get; init; }

    public bool MarkdownAppend { get; init; }

    public bool RequireTargets { get; init; }

    /// <summary>live: also run the load through plain consumers, the broker's own latency.</summary>
    public bool Baseline { get; init; } = true;

    public static readonly string[] AllScenarios = ["hold", "storm", "live", "drain", "slow"];

    public static BenchOptions Parse(string[] args)
    {
        Uri? gateway = null, amqp = null;
        int? pid = null, brokerPid = null, queues = null, messages = null, streams = null, rate = null, size = null;
        double? duration = null;
        var prefetch = 64;
        var settle = 15;
        var warmup = 10;
        var repeat = 3;
        var expires = 1800;
        var sources = 8;
        var timeout = 120.0;
        string? markdown = null;
        var markdownAppend = false;
        var requireTargets = false;
        var baseline = true;
        var scenarios = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            int Int(int min) => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min
                ? v
                : throw new ArgumentException($"{arg} takes a whole number >= {min}, got '{args[i]}'");
            double Real() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw new ArgumentException($"{arg} takes a number > 0, got '{args[i]}'");
            switch (arg)
            {
                case "--gateway": gateway = AbsoluteUri(arg, Value(), "http"); break;
                case "--amqp": amqp = AbsoluteUri(arg, Value(), "amqp"); break;
                case "--gateway-pid": pid = Int(1); break;
                case "--broker-pid": brokerPid = Int(1); break;
                case "--scenario":
                    foreach (var name in Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (name == "all")
                        {
                            scenarios.AddRange(AllScenarios);
                        }
                        else if (AllScenarios.Contains(name))
                        {
                            scenarios.Add(name);
                        }
                        else
                        {
                            throw new ArgumentException($"unknown scenario '{name}' (drain, live, hold, storm, slow, all)");
                        }
                    }

                    break;
                case "--queues": queues = Int(1); break;
                case "--messages": messages = Int(1); break;
                case "--streams": streams = Int(1); break;
                case "--rate": rate = Int(1); break;
                case "--duration": duration = Real(); break;
                case "--size": size = Int(40); break;
                case "--prefetch": prefetch = Int(1); break;
                case "--settle": settle = Int(0); break;
                case "--warmup": warmup = Int(0); break;
                case "--repeat": repeat = Int(1); break;
                case "--expires": expires = Int(0); break;
                case "--sources": sources = Int(0); break;
                case "--timeout": timeout = Real(); break;
                case "--markdown": markdown = Value(); break;
                case "--markdown-append": markdownAppend = true; break;
                case "--require-targets": requireTargets = true; break;
                case "--no-baseline": baseline = false; break;
                case "-h" or "--help": throw new HelpRequested();
                default: throw new ArgumentException($"unknown argument '{arg}'");
            }
        }

        if (gateway is null || amqp is null)
        {
            throw new ArgumentException("--gateway and --amqp are required");
        }

        if (scenarios.Count == 0)
        {
            scenarios.AddRange(AllScenarios);
        }

        return new BenchOptions
        {
            Gateway = gateway,
            Amqp = amqp,
            GatewayPid = pid,
            BrokerPid = brokerPid,
            Scenarios = scenarios.Distinct().ToArray(),
            Queues = queues,
            Messages = messages,
            Streams = streams,
            Rate = rate,
            Duration = duration,
            Size = size,
            Prefetch = prefetch,
            Settle = settle,
            Warmup = warmup,
            Repeat = repeat,
            ExpiresSeconds = expires,
            Sources = sources,
            Timeout = TimeSpan.FromSeconds(timeout),
            Markdown = markdown,
            MarkdownAppend = markdownAppend,
            RequireTargets = requireTargets,
            Baseline = baseline,
        };
    }

    private static Uri AbsoluteUri(string arg, string value, string schemePrefix) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme.StartsWith(schemePrefix, StringComparison.Ordinal)
            ? uri
            : throw new ArgumentException($"{arg} takes an {schemePrefix}:// URL, got '{value}'");
}

internal sealed class HelpRequested : Exception;
