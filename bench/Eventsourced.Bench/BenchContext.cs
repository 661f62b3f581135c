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
