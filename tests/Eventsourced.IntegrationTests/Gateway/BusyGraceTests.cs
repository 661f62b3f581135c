using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.Consuming;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>queue.busy_grace</c>: a subscriber that finds its queue held waits a bounded time for a holder on its way out
/// (an immediate reconnect meeting its own stream that is still ending) instead of getting the 503 that an
/// EventSource never retries; a holder that stays still gets it a 503, after the grace.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class BusyGraceTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("classic")]
    [InlineData("quorum")]
    public async Task HolderLeavingWithinTheGrace_TheWaitingSubscriberGets200(string type)
    {
        var queue = broker.UniqueQueueName($"{nameof(HolderLeavingWithinTheGrace_TheWaitingSubscriberGets200)}-{type}");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Type = type;
            o.Queue.BusyGraceSeconds = 5;
            o.Queue.ExpiresSeconds = 60; // as HoldAsync declares it
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(BusyGraceTests));
        var holder = await HoldAsync(amqp, queue, type);

        var subscribing = gateway.SubscribeAsync($"/?id={queue}");
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // the subscriber has met the holder by now
        Assert.False(subscribing.IsCompleted, "the subscriber was answered while the queue was held");
        await holder.CloseAsync();

        await using var client = await subscribing.WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, client.Status);
    }

    [Theory]
    [InlineData("classic")]
    [InlineData("quorum")]
    public async Task HolderThatStays_TheOtherGets503AfterTheGrace_NotBefore(string type)
    {
        var queue = broker.UniqueQueueName($"{nameof(HolderThatStays_TheOtherGets503AfterTheGrace_NotBefore)}-{type}");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Type = type;
            o.Queue.BusyGraceSeconds = 1;
        });
        await using var first = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, first.Status);

        var stopwatch = Stopwatch.StartNew();
        await using var second = await gateway.SubscribeAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.Status);
        Assert.Equal("queue is already being consumed by another subscriber", second.Response.Headers.GetValues("X-Status-Reason").Single());
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(0.95), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ZeroGrace_AnswersBusyAtOnce()
    {
        var queue = broker.UniqueQueueName(nameof(ZeroGrace_AnswersBusyAtOnce));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.BusyGraceSeconds = 0;
            o.Queue.ExpiresSeconds = 60; // as HoldAsync declares it
        });
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(BusyGraceTests));
        await using var holder = await HoldAsync(amqp, queue, "classic");

        var stopwatch = Stopwatch.StartNew();
        await using var refused = await gateway.SubscribeAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(0.9), $"answered after {stopwatch.Elapsed}");
    }

    [Theory]
    [InlineData("classic")]
    [InlineData("quorum")]
    public async Task ImmediateReconnects_AfterFinOrReset_NeverGetBusy(string type)
    {
        var queue = broker.UniqueQueueName($"{nameof(ImmediateReconnects_AfterFinOrReset_NeverGetBusy)}-{type}");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Type = type);
        var statuses = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /?id={queue} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
            var status = await ReadStatusLineAsync(socket);
            statuses.Add(status);
            if (i % 2 == 1)
            {
                socket.LingerState = new LingerOption(true, 0); // close with a reset
            }

            socket.Close();
        }

        Assert.All(statuses, s => Assert.StartsWith("HTTP/1.1 200", s, StringComparison.Ordinal));
    }

    /// <summary>Holds <paramref name="queue"/> as another subscriber would: its exclusive consumer (classic) or its lock (quorum).</summary>
    private static async Task<IChannel> HoldAsync(AmqpTestClient amqp, string queue, string type)
    {
        var channel = await amqp.Connection.CreateChannelAsync();
        var quorum = type == "quorum";
        var arguments = new Dictionary<string, object?> { ["x-expires"] = 60_000L };
        if (quorum)
        {
            arguments["x-queue-type"] = "quorum";
        }

        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments);
        var name = quorum ? QueueLock.NameFor(queue) : queue;
        if (quorum)
        {
            await channel.QueueDeclareAsync(name, durable: false, exclusive: true, autoDelete: true,
                new Dictionary<string, object?> { ["x-queue-type"] = "classic", ["x-expires"] = 10_000 });
        }

        await channel.BasicConsumeAsync(name, autoAck: false, "", noLocal: false, exclusive: true, null, new AsyncEventingBasicConsumer(channel));
        return channel;
    }

    private static async Task<string> ReadStatusLineAsync(Socket socket)
    {
        var buffer = new byte[4096];
        var text = new StringBuilder();
        using var timeout = new CancellationTokenSource(Patience);
        while (!text.ToString().Contains("\r\n", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString().Split("\r\n")[0];
    }
}
