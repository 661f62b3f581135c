using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;
using RabbitMQ.Client;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>queue.max_message_bytes</c> and <c>queue.max_buffered_bytes</c>: a message over the size limit is rejected to the
/// queue's dead-letter exchange (counted, logged, never framed), and a stream's messages in flight stay within the byte
/// bound, also for a reader that has stopped reading.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class MessageSizeTests(BrokerFixture broker, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task MessageOverTheLimit_IsDeadLettered_Counted_AndTheStreamGoesOn()
    {
        var prefix = $"msz{Guid.NewGuid():N}"[..12] + ".";
        var dlq = prefix + "dead";
        var policy = prefix + "dlx";
        await using var amqp = await broker.ConnectAsync(nameof(MessageSizeTests));
        await amqp.DeclareQueueAsync(dlq, expiresSeconds: 120);
        // A policy, so the gateway's own declare (durable, x-expires) still matches: dead-letter through the default exchange to dlq.
        await broker.Rabbitmqctl.RunCheckedAsync(["set_policy", "-p", VHost, "--apply-to", "queues", policy, "^" + prefix.Replace(".", "\\.", StringComparison.Ordinal) + "q",
            $$"""{"dead-letter-exchange":"","dead-letter-routing-key":"{{dlq}}"}"""]);
        try
        {
            var log = new CollectedLog();
            var options = new Eventsourced.Configuration.GatewayOptions();
            options.Server.Address = "127.0.0.1:0";
            options.Server.HeartbeatSeconds = 0;
            options.Broker.Node = [broker.AmqpUrl];
            options.Queue.Pattern = prefix + "q${query:id}";
            options.Queue.MaxMessageBytes = 4096;
            await using var gateway = await GatewayServer.StartAsync(options, log);
            await using var sse = await gateway.SubscribeAsync("/?id=1");
            Assert.Equal(HttpStatusCode.OK, sse.Status);

            var queue = prefix + "q1";
            await amqp.PublishAsync(queue, "before");
            await amqp.PublishAsync(queue, new string('x', 4097));
            await amqp.PublishAsync(queue, new string('y', 4096));
            await amqp.PublishAsync(queue, "after");

            Assert.Equal(["before", new string('y', 4096), "after"], await sse.ReadEventsAsync(3, Patience));
            await Wait.UntilAsync(async () => await amqp.MessageCountAsync(dlq) == 1, Patience, "the large message dead-lettered");
            Assert.Equal(new string('x', 4097), (await amqp.GetAsync(dlq))!.Text);
            Assert.Contains("eventsourced_messages_rejected_total{reason=\"too_large\"} 1", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
            Assert.Contains(log.Entries, e => e.EventId == 307 && e.Message.Contains("4097 bytes", StringComparison.Ordinal));
        }
        finally
        {
            await broker.Rabbitmqctl.RunAsync(["clear_policy", "-p", VHost, policy]);
            await amqp.DeleteQueueAsync(dlq);
        }
    }

    /// <summary>
    /// Found as an attacker on the publishing side: a message over 64 MiB (the client library's default limit on what it
    /// receives, while RabbitMQ 3.x accepts up to 128 MiB by default) ended the gateway's whole broker connection
    /// ("Frame body size exceeds maximum"), every stream on it with it (<c>: stream ended: broker connection lost</c>), and
    /// stayed at the head of its queue to do it again at the next subscribe. It must be rejected like any message over
    /// <c>queue.max_message_bytes</c>, and every stream go on.
    /// </summary>
    [Fact]
    public async Task MessageOverTheClientLibrarysDefaultLimit_IsRejected_AndNoStreamEnds()
    {
        var log = new CollectedLog();
        var options = new Eventsourced.Configuration.GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Server.HeartbeatSeconds = 0;
        options.Broker.Node = [broker.AmqpUrl];
        var poisoned = broker.UniqueQueueName("poisoned");
        var bystander = broker.UniqueQueueName("bystander");
        await using var gateway = await GatewayServer.StartAsync(options, log);
        await using var amqp = await broker.ConnectAsync(nameof(MessageSizeTests));
        await using var poisonedReader = await gateway.SubscribeAsync($"/?id={poisoned}");
        await using var bystanderReader = await gateway.SubscribeAsync($"/?id={bystander}");
        Assert.Equal(HttpStatusCode.OK, poisonedReader.Status);
        Assert.Equal(HttpStatusCode.OK, bystanderReader.Status);

        var huge = new byte[(64 * 1024 * 1024) + 1];
        Array.Fill(huge, (byte)'h');
        await amqp.PublishAsync(poisoned, huge);
        await amqp.PublishAsync(poisoned, "after the huge one");
        await amqp.PublishAsync(bystander, "still here");

        Assert.Equal(["after the huge one"], await poisonedReader.ReadEventsAsync(1, TimeSpan.FromSeconds(60)));
        Assert.Equal(["still here"], await bystanderReader.ReadEventsAsync(1, Patience));
        Assert.DoesNotContain("stream ended", poisonedReader.RawText + bystanderReader.RawText, StringComparison.Ordinal);
        Assert.Contains(log.Entries, e => e.EventId == 307 && e.Message.Contains($"{huge.Length} bytes", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Entries, e => e.EventId == 202);
        await Wait.UntilAsync(async () => await amqp.MessageCountAsync(poisoned) == 0, Patience, "the huge message rejected, not left at the queue's head");
    }

    /// <summary>
    /// The cases found when tried as an attacker: a 50 MiB body of short lines (framed, it took the gateway from
    /// 272 MB to over 1 GB), and a reader that stops reading while 10 MiB messages wait for it (670 MB held).
    /// </summary>
    [Fact]
    public async Task HugeMessages_AndAStalledReader_KeepTheGatewaysMemoryBounded()
    {
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName("stalled");
        var huge = broker.UniqueQueueName("huge");
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_SERVER__HEARTBEAT"] = "0",
            ["EVENTSOURCED_QUEUE__MAX_MESSAGE_BYTES"] = (16 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(MessageSizeTests));
        await using (var warm = await SseClient.OpenAsync(client, $"/?id={huge}", null, CancellationToken.None))
        {
            Assert.Equal(HttpStatusCode.OK, warm.Status);
        }

        await amqp.UntilConsumersAsync(huge, 0, Patience, "warm-up stream ended");
        var before = process.ResidentBytes();

        // A reader that sends its request and then reads nothing.
        using var stalled = new TcpClient();
        stalled.ReceiveBufferSize = 64 * 1024;
        await stalled.ConnectAsync("127.0.0.1", port);
        await stalled.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /?id={queue} HTTP/1.1\r\nHost: x\r\n\r\n"));
        await amqp.UntilConsumersAsync(queue, 1, Patience, "stalled reader subscribed");
        var tenMiB = new byte[10 * 1024 * 1024];
        Array.Fill(tenMiB, (byte)'m');
        for (var i = 0; i < 16; i++)
        {
            await amqp.PublishAsync(queue, tenMiB);
        }

        // 50 MiB of two-byte lines: over queue.max_message_bytes, rejected unframed (framed, it would be 200 MiB).
        await using var hugeReader = await SseClient.OpenAsync(client, $"/?id={huge}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, hugeReader.Status);
        await amqp.PublishAsync(huge, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("a\n", 25 * 1024 * 1024))));
        await amqp.PublishAsync(huge, "after the huge one");
        Assert.Equal(["after the huge one"], await hugeReader.ReadEventsAsync(1, TimeSpan.FromSeconds(60)));

        // Let the deliveries the broker will make arrive, then look.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var grown = process.ResidentBytes() - before;
        var inFlight = await broker.Rabbitmqctl.ListAsync("list_queues", ["name", "messages_unacknowledged"]);
        var unacked = inFlight.Single(q => q.GetProperty("name").GetString() == queue).GetProperty("messages_unacknowledged").GetInt64();

        output.WriteLine($"gateway RSS {before / (1024 * 1024)} MiB before, grew by {grown / (1024 * 1024)} MiB; {unacked} messages of 10 MiB in flight");

        // 64 MiB of queue.max_buffered_bytes over 16 MiB messages: at most 4 in flight.
        Assert.True(unacked <= 4, $"{unacked} messages of 10 MiB in flight to a reader that reads nothing");
        Assert.True(grown < 300L * 1024 * 1024, $"gateway grew by {grown / (1024 * 1024)} MiB");
    }

    private string VHost
    {
        get
        {
            var path = new Uri(broker.AmqpUrl).AbsolutePath;
            return path is "/" or "" ? "/" : Uri.UnescapeDataString(path[1..]);
        }
    }
}
