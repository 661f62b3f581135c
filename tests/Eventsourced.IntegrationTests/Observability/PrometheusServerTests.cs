using System.Net;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>End to end: a real Prometheus server (Debian's package, on loopback) scrapes a real gateway.</summary>
[Collection(BrokerCollection.Name)]
public sealed class PrometheusServerTests(BrokerFixture broker)
{
    [Fact]
    public async Task Prometheus_ScrapesTheGateway_QueryReturnsStreamsActive()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        var queue = broker.UniqueQueueName("prometheus");
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, client.Status);
        await using var prometheus = await PrometheusServer.StartAsync($"127.0.0.1:{gateway.BaseAddress.Port}", gateway.Options.Metrics.Path);

        double? value = null;
        try
        {
            await Wait.UntilAsync(
                async () => (value = await prometheus.QueryValueAsync("eventsourced_streams_active{job=\"eventsourced\"}")) == 1,
                TimeSpan.FromSeconds(60), "Prometheus' query API returns eventsourced_streams_active 1", TimeSpan.FromMilliseconds(500));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} (last value {value?.ToString() ?? "none"}); targets: {await prometheus.TargetsAsync()}\n{prometheus.Output}", ex);
        }

        Assert.Equal(1, await prometheus.QueryValueAsync("up{job=\"eventsourced\"}"));
        Assert.Equal(1, await prometheus.QueryValueAsync("sum(eventsourced_streams_total{outcome=\"streamed\"})"));
    }
}
