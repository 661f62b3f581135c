using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>A gateway with default settings on the shared broker, and an AMQP client to publish with.</summary>
public abstract class GatewayTestBase(BrokerFixture broker) : IAsyncLifetime
{
    protected BrokerFixture Broker { get; } = broker;

    protected GatewayServer Gateway { get; private set; } = null!;

    protected AmqpTestClient Amqp { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = await GatewayServer.StartAsync(Broker.AmqpUrl);
        Amqp = await AmqpTestClient.ConnectAsync(Broker.AmqpUrl, GetType().Name);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Amqp.DisposeAsync();
    }
}
