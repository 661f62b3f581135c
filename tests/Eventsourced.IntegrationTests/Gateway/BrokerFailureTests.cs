using System.Diagnostics;
using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// What a node that stalls or dies for a while does to the gateway: the loss is noticed by AMQP heartbeats (not
/// TCP), streams end at once saying why, <c>/readyz</c> and the broker series follow, and the node is reconnected
/// within about a second of answering again, however long it was away.
/// </summary>
[Collection(IsolatedBrokerCollection.Name)]
public sealed class BrokerFailureTests(IsolatedBrokerFixture broker) : IAsyncLifetime
{
    private const string ConnectionLost = ": stream ended: broker connection lost\n\n";

    public Task InitializeAsync() => broker.EnsureRunningAsync();

    public Task DisposeAsync() => broker.EnsureRunningAsync();

    [Fact]
    public async Task StalledNode_IsNoticedByHeartbeats_StreamsEndSayingSo_AndItIsReconnectedOnceItAnswers()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Broker.HeartbeatSeconds = 1;
            o.Broker.ReconnectMaxSeconds = 30;
        });
        var node = new Uri(broker.AmqpUrl).Authority;
        await using var client = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName(nameof(BrokerFailureTests))}");
        Assert.Equal(HttpStatusCode.OK, client.Status);
        Assert.True(await client.ReadUntilAsync(text => text.Contains(": SSE stream\n\n", StringComparison.Ordinal), TimeSpan.FromSeconds(10)));

        var stalled = Stopwatch.StartNew();
        await broker.Node.PauseAsync(); // SIGSTOP to the node's VM
        try
        {
            // TCP stays up: only the heartbeats (1 s; about three missed) can tell.
            await client.WaitForEndAsync(TimeSpan.FromSeconds(15));
            var noticed = stalled.Elapsed;
            Assert.EndsWith(ConnectionLost, client.RawText, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(gateway, "/readyz"));
            Assert.Equal(0, (await Observability.Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_broker_connections", ("node", node)));
            Assert.True(noticed < TimeSpan.FromSeconds(15), $"noticed after {noticed}");

            // Let the gateway's backoff grow while the node stays frozen.
            await Task.Delay(TimeSpan.FromSeconds(8));
        }
        finally
        {
            await broker.Node.ResumeAsync();
        }

        var resumed = Stopwatch.StartNew();
        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "/readyz 200 once the node answers again");
        Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(4), $"reconnected {resumed.Elapsed} after the node resumed");
        await using var again = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName(nameof(BrokerFailureTests))}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    [Fact]
    public async Task NodeBackAfterALongOutage_IsReconnectedWithinAboutASecond_NotAfterTheBackoff()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.ReconnectMaxSeconds = 30);
        var queue = broker.UniqueQueueName(nameof(NodeBackAfterALongOutage_IsReconnectedWithinAboutASecond_NotAfterTheBackoff));
        await using var client = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, client.Status);

        await broker.Node.KillAsync();
        await client.WaitForEndAsync(TimeSpan.FromSeconds(15));
        Assert.EndsWith(ConnectionLost, client.RawText, StringComparison.Ordinal);

        // Long enough for the backoff between attempts to reach several seconds (0.5 s doubling, 30 s cap).
        await Task.Delay(TimeSpan.FromSeconds(10));
        await broker.Node.StartAsync();
        var back = Stopwatch.StartNew();
        await Wait.UntilAsync(async () => await StatusAsync(gateway, "/readyz") == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "/readyz 200 with the node back");
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(3), $"/readyz 200 only {back.Elapsed} after the node was ready");

        await using var again = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, again.Status);
    }

    [Fact]
    public async Task ChannelCloseAnsweredLate_TheChannelIsDisposedOnlyAfterItsConsumerWasTold()
    {
        // A leaving subscriber's channel.close that the node answers only after the gateway's wait for it (5 s).
        // RabbitMQ.Client 7.2.2 then returned from the close before the connection's reading loop had told the
        // channel's consumers, and the gateway disposed the channel under that loop: when the loop lost the race it
        // failed on the disposed dispatcher and the library closed the whole connection (541, "The
        // CancellationTokenSource has been disposed"), ending every stream on it. Seen when 10,000 streams left
        // at once (make bench, hold). The race itself is rare; what decides it is whether the channel can be
        // disposed before its consumers were told, which the slow consumer below makes certain for the old code.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Broker.HeartbeatSeconds = 60);
        var slot = Assert.Single(gateway.Pool.Slots);
        await using var lease = await gateway.Pool.LeaseAsync(CancellationToken.None);
        var queue = await lease.Channel.QueueDeclareAsync(string.Empty, durable: false, exclusive: true, autoDelete: true);
        var consumer = new AsyncEventingBasicConsumer(lease.Channel);
        var told = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        consumer.ShutdownAsync += async (_, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            told.TrySetResult();
        };
        await lease.Channel.BasicConsumeAsync(queue.QueueName, autoAck: false, consumer);
        var channel = DisposalWatch.Wrap(lease.Channel, () => told.Task.IsCompleted);

        Task closing;
        await broker.Node.PauseAsync();
        try
        {
            closing = slot.CloseChannelQuietlyAsync(channel, "leaving");
            await Task.Delay(TimeSpan.FromSeconds(6));
        }
        finally
        {
            await broker.Node.ResumeAsync();
        }

        await closing.WaitAsync(TimeSpan.FromSeconds(30));
        await told.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var toldFirst = await DisposalWatch.Of(channel).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(toldFirst, "the channel was disposed before its consumer had been told of the close");
        Assert.True(slot.IsUp);
    }

    /// <summary>
    /// A real channel behind a forwarding proxy that notes, when the channel is disposed, whether a condition held
    /// then: the order of two steps inside the client library, which no public member shows.
    /// </summary>
    public class DisposalWatch : System.Reflection.DispatchProxy
    {
        private IChannel _inner = null!;
        private Func<bool> _condition = null!;
        private readonly TaskCompletionSource<bool> _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static IChannel Wrap(IChannel inner, Func<bool> condition)
        {
            var proxy = Create<IChannel, DisposalWatch>();
            var watch = (DisposalWatch)(object)proxy;
            watch._inner = inner;
            watch._condition = condition;
            return proxy;
        }

        /// <summary>Completes when the channel is disposed, with whether the condition held at that moment.</summary>
        public static Task<bool> Of(IChannel proxy) => ((DisposalWatch)(object)proxy)._disposed.Task;

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name is nameof(IAsyncDisposable.DisposeAsync) or nameof(IDisposable.Dispose))
            {
                _disposed.TrySetResult(_condition());
            }

            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (System.Reflection.TargetInvocationException ex) when (ex.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
                throw;
            }
        }
    }

    private static async Task<HttpStatusCode> StatusAsync(GatewayServer gateway, string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        return response.StatusCode;
    }
}
