namespace Eventsourced.Bench;

/// <summary>
/// What the command line asked for; <see cref="BenchCommandLine"/> holds the defaults and checks. Sizes left unset
/// (null) take each scenario's target size.
/// </summary>
internal sealed class BenchOptions
{
    public required Uri Gateway { get; init; }

    public required Uri Amqp { get; init; }

    public int? GatewayPid { get; init; }

    public int? BrokerPid { get; init; }

    public required IReadOnlyList<string> Scenarios { get; init; }

    public int? Queues { get; init; }

    public int? Messages { get; init; }

    public int? Streams { get; init; }

    /// <summary>live: subscribers that connect during the measured part (null: the target shapes).</summary>
    public int? Connecting { get; init; }

    public int? Rate { get; init; }

    public double? Duration { get; init; }

    public int? Size { get; init; }

    public int Repeat { get; init; }

    public int Prefetch { get; init; }

    public int Settle { get; init; }

    public int Warmup { get; init; }

    public int ExpiresSeconds { get; init; }

    public int Sources { get; init; }

    public TimeSpan Timeout { get; init; }

    public string? Markdown { get; init; }

    public bool MarkdownAppend { get; init; }

    public bool RequireTargets { get; init; }

    /// <summary>live: also run the load through plain consumers, the broker's own latency.</summary>
    public bool Baseline { get; init; }

    /// <summary>HS256 secret: every SSE client sends its own token (<c>?access_token=</c>).</summary>
    public string? TokenSecret { get; init; }

    /// <summary>drain: a second gateway that requires tokens, measured in the same rounds as <see cref="Gateway"/>.</summary>
    public Uri? TokenGateway { get; init; }

    public int? TokenGatewayPid { get; init; }

    /// <summary>churn: an executable that runs rabbitmqctl against the broker (build/bench.sh writes one), for the broker's counts.</summary>
    public string? BrokerCtl { get; init; }

    public static readonly string[] AllScenarios = ["hold", "storm", "live", "drain", "slow", "churn", "fanout", "resume"];
}
