using System.Net.ServerSentEvents;
using Eventsourced.Configuration;
using Eventsourced.Topics;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>Topic tests: real streams on the shared broker, a gateway configured per test, an AMQP client to publish with.</summary>
public abstract class TopicTestBase(BrokerFixture broker) : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly List<GatewayServer> _gateways = [];

    protected BrokerFixture Broker { get; } = broker;

    protected AmqpTestClient Amqp { get; private set; } = null!;

    public async Task InitializeAsync() => Amqp = await AmqpTestClient.ConnectAsync(Broker.AmqpUrl, GetType().Name);

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await gateway.DisposeAsync();
        }

        await Amqp.DisposeAsync();
    }

    /// <summary>A gateway for this test, stopped after it; <paramref name="log"/>, if given, gets its every log entry from debug up.</summary>
    protected async Task<GatewayServer> StartGatewayAsync(Action<GatewayOptions>? configure = null, CollectedLog? log = null)
    {
        var gateway = await GatewayServer.StartAsync(Broker.AmqpUrl, configure, log);
        _gateways.Add(gateway);
        return gateway;
    }

    /// <summary>A topic name no other test uses.</summary>
    protected string UniqueTopic(string testName) => Broker.UniqueQueueName("topic-" + testName);

    /// <summary>The stream of <paramref name="topic"/> with the default <c>topics.prefix</c>.</summary>
    protected static string StreamOf(string topic) => TopicOptions.DefaultPrefix + topic;

    /// <summary>Declares the stream of <paramref name="topic"/> (with the default prefix), as an operator would.</summary>
    protected Task DeclareStreamAsync(string topic) =>
        Amqp.DeclareQueueAsync(StreamOf(topic), durable: true, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "stream" });

    /// <summary>Publishes event-0 ... to the stream of <paramref name="topic"/> through the default exchange, each confirmed.</summary>
    protected async Task PublishAsync(string topic, int from, int count, string? type = null)
    {
        for (var i = from; i < from + count; i++)
        {
            await Amqp.PublishAsync(StreamOf(topic), $"event-{i}", properties: type is null ? null : new BasicProperties { Type = type });
        }
    }

    /// <summary>
    /// Consumers on the gateway's connections, as the broker counts them (<c>rabbitmqctl list_channels</c>): for
    /// streams, RabbitMQ 3.10 lists no AMQP consumers in <c>list_consumers</c> and keeps no count in <c>list_queues</c>.
    /// </summary>
    protected async Task<long> GatewayConsumersAsync(GatewayServer gateway)
    {
        var connections = (await Broker.Rabbitmqctl.ListConnectionsAsync())
            .Where(c => c.ClientProvidedName?.StartsWith(gateway.Pool.ConnectionNamePrefix + " ", StringComparison.Ordinal) == true)
            .Select(c => c.Name + " (")
            .ToArray();
        return (await Broker.Rabbitmqctl.ListChannelsAsync())
            .Where(channel => connections.Any(name => channel.Name.StartsWith(name, StringComparison.Ordinal)))
            .Sum(channel => channel.ConsumerCount);
    }

    /// <summary>The gateway's channel leases, queue subscribers' and stream consumers' connections together.</summary>
    protected static int Leases(GatewayServer gateway) => gateway.Pool.Slots.Concat(gateway.Pool.StreamSlots).Sum(s => s.Leases);

    /// <summary>One unlabelled series of the gateway's <c>/metrics</c>.</summary>
    protected static Task<double> MetricAsync(GatewayServer gateway, string series) => gateway.MetricAsync(series);

    /// <summary>Offsets as the events' ids, checked to be a run without a gap or a repeat.</summary>
    protected static long[] Offsets(IEnumerable<SseItem<string>> items) => items.Select(i => long.Parse(i.EventId!, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    protected static void AssertRun(IReadOnlyList<SseItem<string>> items, int firstEvent, int count)
    {
        Assert.Equal(Enumerable.Range(firstEvent, count).Select(i => $"event-{i}"), items.Select(i => i.Data));
        var offsets = Offsets(items);
        Assert.Equal(Enumerable.Range(0, offsets.Length).Select(i => offsets[0] + i), offsets);
    }
}
