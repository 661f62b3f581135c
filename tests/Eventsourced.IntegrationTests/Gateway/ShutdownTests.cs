using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerLifecycleCollection.Name)]
public sealed class ShutdownTests(BrokerFixture broker)
{
    [Fact]
    public async Task Stop_EndsStreams_ReleasesChannels_AndKeepsUnreadMessagesQueued()
    {
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.ShutdownTimeoutSeconds = 5);
        var prefix = gateway.Pool.ConnectionNamePrefix;
        var queues = Enumerable.Range(0, 10).Select(i => broker.UniqueQueueName($"shutdown{i}")).ToArray();
        var clients = await Task.WhenAll(queues.Select(q => gateway.SubscribeAsync($"/?id={q}")));
        Assert.All(clients, c => Assert.Equal(HttpStatusCode.OK, c.Status));

        var stopwatch = Stopwatch.StartNew();
        await gateway.StopAsync();
        stopwatch.Stop();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"shutdown took {stopwatch.Elapsed}");
        foreach (var client in clients)
        {
            await client.WaitForEndAsync(TimeSpan.FromSeconds(5));
            await client.DisposeAsync();
        }

        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.ConnectionCountAsync(prefix) == 0, TimeSpan.FromSeconds(10), "gateway connections closed");
        foreach (var q in queues)
        {
            Assert.Equal(0u, await amqp.ConsumerCountAsync(q));
        }

        // The queues stay, and keep what is published while no gateway runs.
        await amqp.PublishAsync(queues[0], "kept");
        await using var next = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var sse = await next.SubscribeAsync($"/?id={queues[0]}");
        Assert.Equal(["kept"], await sse.ReadEventsAsync(1, TimeSpan.FromSeconds(10)));
        await gateway.DisposeAsync();
    }

    /// <summary>
    /// The 3 s drain delay as a stopwatch sees it: the runtime's timers count whole milliseconds of the tick count, so a
    /// delay may end a fraction of a millisecond early (CI saw 2.9993 s).
    /// </summary>
    private static readonly TimeSpan DrainDelayAtTheEarliest = TimeSpan.FromSeconds(3) - TimeSpan.FromMilliseconds(20);

    [Fact]
    public async Task Stop_WithADrainDelay_ReadinessFailsAtOnce_StreamsAndNewSubscribersAreServedUntilItEnds()
    {
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.DrainDelaySeconds = 3;
            o.Server.ShutdownTimeoutSeconds = 5;
        });
        var queue = broker.UniqueQueueName("drain");
        var late = broker.UniqueQueueName("drain-late");
        await using var open = await gateway.SubscribeAsync($"/?id={queue}");
        Assert.Equal(HttpStatusCode.OK, open.Status);

        var stopwatch = Stopwatch.StartNew();
        var stopping = gateway.StopAsync();

        // Out of rotation at once, yet serving: the open stream gets what is published, a newcomer is subscribed.
        await Wait.UntilAsync(async () => (await gateway.Client.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(2), "/readyz 503 at the signal");
        await amqp.PublishAsync(queue, "during the drain");
        Assert.Equal(["during the drain"], await open.ReadEventsAsync(1, TimeSpan.FromSeconds(2)));
        await using var newcomer = await gateway.SubscribeAsync($"/?id={late}");
        Assert.Equal(HttpStatusCode.OK, newcomer.Status);
        Assert.False(open.Ended, "the open stream ended before the drain delay");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"the checks took {stopwatch.Elapsed}, past the delay");

        // Then the streams end as in any shutdown, within drain_delay + shutdown_timeout.
        await stopping;
        Assert.True(stopwatch.Elapsed >= DrainDelayAtTheEarliest, $"stopped after {stopwatch.Elapsed}, before the drain delay");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(8), $"shutdown took {stopwatch.Elapsed}");
        await open.WaitForEndAsync(TimeSpan.FromSeconds(5));
        await newcomer.WaitForEndAsync(TimeSpan.FromSeconds(5));
        Assert.EndsWith(": stream ended: gateway shutting down\n\n", open.RawText, StringComparison.Ordinal);
        await gateway.DisposeAsync();
    }

    [Fact]
    public async Task Sigterm_WithADrainDelay_ReadinessFailsAtOnce_StreamsGoOnUntilItEnds_ExitsZero()
    {
        // The signal's path: the console lifetime stops the application before the host stops.
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_SERVER__DRAIN_DELAY"] = "3",
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        var queue = broker.UniqueQueueName("sigterm-drain");
        await using var open = await SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, open.Status);

        var stopwatch = Stopwatch.StartNew();
        process.Signal("TERM");
        await Wait.UntilAsync(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(2), "/readyz 503 at the signal");
        await amqp.PublishAsync(queue, "during the drain");
        Assert.Equal(["during the drain"], await open.ReadEventsAsync(1, TimeSpan.FromSeconds(2)));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3), $"the checks took {stopwatch.Elapsed}, past the delay");

        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.True(stopwatch.Elapsed >= DrainDelayAtTheEarliest, $"exited after {stopwatch.Elapsed}, before the drain delay");
        await open.WaitForEndAsync(TimeSpan.FromSeconds(5));
        Assert.EndsWith(": stream ended: gateway shutting down\n\n", open.RawText, StringComparison.Ordinal);
        Assert.Contains("ending streams after 3s (server.drain_delay)", process.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task SecondSignal_DuringTheDrainDelay_EndsTheStreamsAtOnce_ExitsZero(string signal)
    {
        // Before, a second signal changed nothing: the whole delay was waited out, or the process killed (streams cut).
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_SERVER__DRAIN_DELAY"] = "60",
            ["EVENTSOURCED_SERVER__SHUTDOWN_TIMEOUT"] = "5",
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var open = await SseClient.OpenAsync(client, $"/?id={broker.UniqueQueueName("second" + signal)}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, open.Status);

        process.Signal(signal);
        await Wait.UntilAsync(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(5), "/readyz 503 at the first signal");
        Assert.False(process.HasExited, "the gateway exited at the first signal, within a drain delay of 60 s");
        var stopwatch = Stopwatch.StartNew();
        process.Signal(signal);

        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"exited {stopwatch.Elapsed} after the second signal");
        await open.WaitForEndAsync(TimeSpan.FromSeconds(5));
        Assert.EndsWith(": stream ended: gateway shutting down\n\n", open.RawText, StringComparison.Ordinal);
        Assert.Contains($"SIG{signal} received again: ending streams now", process.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_WhileTheBrokerAnswersNothing_StaysWithinShutdownTimeout()
    {
        // A frozen node (SIGSTOP) or a cut network, not yet noticed by heartbeats: channel.close and connection.close
        // are never answered. The client library waited 30 s for the one and 20 s more disposing the connection.
        var (proxy, amqpUrl) = StallingProxy.ForBroker(broker.AmqpUrl, StallingProxy.QueueDeclare, count: int.MaxValue);
        await using var _ = proxy;
        var gateway = await GatewayServer.StartAsync(amqpUrl, o =>
        {
            o.Server.ShutdownTimeoutSeconds = 3;
            o.Broker.HeartbeatSeconds = 600;
        });
        await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("stalledstop")}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        proxy.Stall();

        var stopwatch = Stopwatch.StartNew();
        await gateway.StopAsync();
        await gateway.DisposeAsync();
        stopwatch.Stop();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3 + 3), $"shutdown took {stopwatch.Elapsed}");
        Assert.Contains("stream ended: gateway shutting down", await sse.ReadBodyAsync(), StringComparison.Ordinal);
        await proxy.DisposeAsync();
    }

    /// <summary>
    /// The gateway's program, its broker connections through a proxy that <see cref="StallingProxy.Stall"/> turns silent (a
    /// frozen node, or a cut network that heartbeats, at 600 s, do not notice), and a client of its listener.
    /// </summary>
    private async Task<(StallingProxy Proxy, GatewayProcess Process, HttpClient Client)> BehindASilentBrokerAsync(params (string Name, string Value)[] settings)
    {
        var (proxy, amqpUrl) = StallingProxy.ForBroker(broker.AmqpUrl, StallingProxy.QueueDeclare, count: int.MaxValue);
        var port = FreePort.Next();
        var environment = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = amqpUrl,
            ["EVENTSOURCED_BROKER__HEARTBEAT"] = "600",
        };
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }

        var process = GatewayProcess.Start(environment);
        try
        {
            return (proxy, process, await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30)));
        }
        catch
        {
            await process.DisposeAsync();
            await proxy.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task Sigterm_WhileTheBrokerAnswersNothing_SaysWhyItWaitsAndWhatItGaveUpOn_ExitsZero()
    {
        // A frozen node (SIGSTOP of its beam process): at the default level the log said "Shutting down" and, the whole
        // server.shutdown_timeout (10 s) later, "Stopped", nothing between: the closes' failures were debug lines (205),
        // and the connection's close, waited for after the channels' 5 s, was cut off by the timeout before it could say so.
        var silent = await BehindASilentBrokerAsync();
        await using var proxy = silent.Proxy;
        await using var process = silent.Process;
        using var client = silent.Client;
        await using var first = await SseClient.OpenAsync(client, $"/?id={broker.UniqueQueueName("frozenStop1")}", null, CancellationToken.None);
        await using var second = await SseClient.OpenAsync(client, $"/?id={broker.UniqueQueueName("frozenStop2")}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        proxy.Stall();

        var stopwatch = Stopwatch.StartNew();
        process.Signal("TERM");
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(20));
        stopwatch.Stop();

        Assert.Equal(0, exitCode);
        var log = process.Stdout;
        Assert.True(log.Contains("[210] Broker 127.0.0.1:", StringComparison.Ordinal) && log.Contains("has answered no channel.close", StringComparison.Ordinal), $"no word of why the shutdown waits:\n{log}");
        Assert.True(log.Contains("[211] Gave up closing connection", StringComparison.Ordinal) && log.Contains("2 channel(s) on it were not closed cleanly", StringComparison.Ordinal), $"no word of what the shutdown gave up on:\n{log}");
        Assert.Contains("The broker requeues what their streams had not acknowledged", log, StringComparison.Ordinal);
        Assert.DoesNotContain("guest", log, StringComparison.Ordinal);

        // The channels' closes are given up on after 5 s; the connection's is not waited for after that.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(8.5), $"exit took {stopwatch.Elapsed} of the 10 s timeout");
    }

    [Fact]
    public async Task Sigterm_WhileTheBrokerAnswersNothing_OnlyTopicsOpen_DoesNotWaitForTheOtherConnectionsClose()
    {
        // Only the topics' connection had channels to close. The queue subscribers' connection, to the same silent node,
        // was then waited for until server.shutdown_timeout ran out (10 s in all, and a line that gave up on 0 channels).
        var silent = await BehindASilentBrokerAsync();
        await using var proxy = silent.Proxy;
        await using var process = silent.Process;
        using var client = silent.Client;
        await using var topic = await SseClient.OpenAsync(client, $"/topics/{broker.UniqueQueueName("frozenStopTopic")}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, topic.Status);
        proxy.Stall();

        var stopwatch = Stopwatch.StartNew();
        process.Signal("TERM");
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(20));
        stopwatch.Stop();

        Assert.Equal(0, exitCode);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(8.5), $"exit took {stopwatch.Elapsed} of the 10 s timeout:\n{process.Stdout}");
        Assert.DoesNotContain("server.shutdown_timeout ran out", process.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_ATimeoutShorterThanTheBrokersSilence_SaysTheStreamsWaitedForTheBroker_NotForTheirClients()
    {
        // With server.shutdown_timeout below the 5 s a channel's close is waited for, a frozen node keeps each stream's
        // request open after its end was written. Event 121 blamed the clients ("a stream's end unwritten (clients not
        // reading?)"), whose end had arrived, and sent the operator to look at them.
        var silent = await BehindASilentBrokerAsync(("EVENTSOURCED_SERVER__SHUTDOWN_TIMEOUT", "2"));
        await using var proxy = silent.Proxy;
        await using var process = silent.Process;
        using var client = silent.Client;
        await using var sse = await SseClient.OpenAsync(client, $"/?id={broker.UniqueQueueName("frozenShortStop")}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        proxy.Stall();

        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains("stream ended: gateway shutting down", await sse.ReadBodyAsync(), StringComparison.Ordinal);
        var cut = process.Stdout.Split('\n').SingleOrDefault(l => l.Contains("[121]", StringComparison.Ordinal));
        Assert.True(cut is not null, $"no event 121:\n{process.Stdout}");
        Assert.Contains("1 client connection(s) were still open when server.shutdown_timeout (2s) ran out", cut, StringComparison.Ordinal);
        Assert.Contains("waiting for the broker to answer their channel's close", cut, StringComparison.Ordinal);
        Assert.DoesNotContain("clients not reading", cut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hangup_IsLoggedAndIgnored_StreamsGoOn()
    {
        // The runtime's default for SIGHUP ended the process at once (exit 129), cutting every stream without its end.
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName("signalHUP");
        await using var process = GatewayProcess.Start(
            new Dictionary<string, string>
            {
                ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
                ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var sse = await SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        process.Signal("HUP");
        await Wait.UntilAsync(() => process.Stdout.Contains("SIGHUP received and ignored", StringComparison.Ordinal) || process.HasExited, TimeSpan.FromSeconds(10), "the gateway logs the SIGHUP");

        Assert.False(process.HasExited, $"the gateway exited on SIGHUP: {process.Stderr}");
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        await amqp.PublishAsync(queue, "after the hangup");
        Assert.Equal(["after the hangup"], await sse.ReadEventsAsync(1, TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task Signal_EndsStreamsAndExitsZeroWithinTheBound(string signal)
    {
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName($"signal{signal}");
        await using var process = GatewayProcess.Start(
            new Dictionary<string, string>
            {
                ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
                ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
                ["EVENTSOURCED_SERVER__SHUTDOWN_TIMEOUT"] = "5",
            });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var sse = await SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        var stopwatch = Stopwatch.StartNew();
        process.Signal(signal);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, exitCode);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(7), $"exit took {stopwatch.Elapsed}");
        Assert.DoesNotContain("[121]", process.Stdout, StringComparison.Ordinal); // every stream ended: none cut
        await sse.WaitForEndAsync(TimeSpan.FromSeconds(5));
        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        Assert.Equal(0u, await amqp.ConsumerCountAsync(queue));
    }

    [Fact]
    public async Task Sigterm_AStreamThatCannotEndInTime_IsCutAndLogged()
    {
        // A client that stops reading with megabytes unread: its stream's end cannot be written, so the shutdown timeout
        // cuts it. The log said only "Stopped", as after a clean shutdown, and an operator could not tell that
        // server.shutdown_timeout (or the container's stop timeout) was too short for the clients it had.
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName("sigtermStalled");
        await using var process = GatewayProcess.Start(
            new Dictionary<string, string>
            {
                ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
                ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
                ["EVENTSOURCED_SERVER__SHUTDOWN_TIMEOUT"] = "2",
            });
        using (await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30)))
        {
        }

        await using var amqp = await AmqpTestClient.ConnectAsync(broker.AmqpUrl, nameof(ShutdownTests));
        using var socket = await RawHttp.OpenNotReadingAsync(port, $"/?id={queue}");
        await amqp.UntilConsumersAsync(queue, 1, TimeSpan.FromSeconds(15), "subscribed");
        var body = new string('x', 256 * 1024);
        for (var i = 0; i < 40; i++)
        {
            await amqp.PublishAsync(queue, body); // 10 MB: more than the socket buffers hold
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        process.Signal("TERM");
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(0, exitCode);
        Assert.True(
            process.Stdout.Contains("1 client connection(s) were still open when server.shutdown_timeout (2s) ran out", StringComparison.Ordinal),
            $"no warning that the stream was cut:\n{process.Stdout}");
    }
}
