using System.Globalization;
using Eventsourced.Bench.Amqp;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench;

/// <summary>What every scenario gets: the options, the broker, the way to the gateway, the gateway's memory.</summary>
internal sealed class BenchContext
{
    public BenchContext(BenchOptions options, BrokerClient broker, SseConnector connector, ProcessMemory? gateway)
    {
        Options = options;
        Broker = broker;
        Connector = connector;
        Gateway = gateway;
        Cpu = new CpuShare(options.GatewayPid, options.BrokerPid);
        RunId = Guid.NewGuid().ToString("N")[..6];
    }

    public BenchOptions Options { get; }

    public BrokerClient Broker { get; }

    public SseConnector Connector { get; }

    /// <summary>--token-secret: the tokens every SSE client sends (prepared ahead with <see cref="SubscriberTokens.Prepare"/>).</summary>
    public SubscriberTokens? Tokens { get; init; }

    /// <summary>--token-gateway: the second gateway, which requires tokens; drain measures it beside <see cref="Connector"/>'s.</summary>
    public SseConnector? TokenConnector { get; init; }

    /// <summary>CPU shares with the token gateway in the gateway's place (--token-gateway-pid).</summary>
    public CpuShare TokenCpu => _tokenCpu ??= new CpuShare(Options.TokenGatewayPid, Options.BrokerPid);

    private CpuShare? _tokenCpu;

    /// <summary>The gateway's /proc readings; null without --gateway-pid.</summary>
    public ProcessMemory? Gateway { get; }

    /// <summary>CPU shares of gateway, broker, this tool and everything else.</summary>
    public CpuShare Cpu { get; }

    /// <summary>Part of every queue name, so runs never share queues.</summary>
    public string RunId { get; }

    public string[] QueueNames(string scenario, int count) =>
        Enumerable.Range(0, count).Select(i => $"bench-{RunId}-{scenario}-{i:D5}").ToArray();

    /// <summary>One series of the gateway's <c>/metrics</c> (at its default path): its name, with its labels as the exposition writes them (<c>name{label="value"}</c>); null when it cannot be read.</summary>
    public async Task<double?> GatewayMetricAsync(string series) => (await GatewayMetricsAsync(series))[0];

    /// <summary>Several series of one scrape of the gateway's <c>/metrics</c> (see <see cref="GatewayMetricAsync"/>), each null when it cannot be read.</summary>
    public async Task<double?[]> GatewayMetricsAsync(params string[] series)
    {
        var values = new double?[series.Length];
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var lines = (await client.GetStringAsync(new Uri(Options.Gateway, "/metrics"))).Split('\n');
            for (var i = 0; i < series.Length; i++)
            {
                var line = lines.FirstOrDefault(l => l.StartsWith(series[i] + " ", StringComparison.Ordinal));
                values[i] = line is null ? null : double.Parse(line[(series[i].Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or FormatException)
        {
            Array.Fill(values, null);
        }

        return values;
    }

    /// <summary>
    /// The gateway's garbage collections so far, from one scrape of its <c>/metrics</c> (the runtime meter): collections
    /// of gen0, gen1 and gen2 (each counts the collections of that generation, not of the younger ones) and the seconds
    /// paused; null when they cannot be read.
    /// </summary>
    public async Task<GatewayCollections?> GatewayCollectionsAsync() =>
        await GatewayMetricsAsync(
                "system_runtime_dotnet_gc_collections{gc_heap_generation=\"gen0\"}",
                "system_runtime_dotnet_gc_collections{gc_heap_generation=\"gen1\"}",
                "system_runtime_dotnet_gc_collections{gc_heap_generation=\"gen2\"}",
                "system_runtime_dotnet_gc_pause_time") is [{ } gen0, { } gen1, { } gen2, { } paused]
            ? new GatewayCollections(gen0, gen1, gen2, paused)
            : null;

    /// <summary>Checks the gateway is still there: a scenario that killed it must not look like a slow one.</summary>
    public void EnsureGatewayAlive()
    {
        if (Gateway is { IsAlive: false })
        {
            throw new InvalidOperationException("the gateway process is gone");
        }
    }

    public static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string F(double value, int decimals = 2) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}

/// <summary>Counts of the gateway's collections by generation and the seconds it paused for them (see <see cref="BenchContext.GatewayCollectionsAsync"/>).</summary>
internal readonly record struct GatewayCollections(double Gen0, double Gen1, double Gen2, double PausedSeconds)
{
    public static GatewayCollections operator -(GatewayCollections a, GatewayCollections b) =>
        new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.PausedSeconds - b.PausedSeconds);

    public override string ToString() =>
        $"{Gen0:F0} gen0, {Gen1:F0} gen1, {Gen2:F0} gen2, {BenchContext.F(PausedSeconds * 1000, 0)} ms paused";
}
