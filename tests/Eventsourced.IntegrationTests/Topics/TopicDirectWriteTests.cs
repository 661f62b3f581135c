using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Topics;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Topics;

/// <summary>
/// <c>topics.direct_writes</c>: the feed writes each event's chunk straight to its live SSE subscribers' sockets. Read
/// here off raw sockets, chunk framing and all, so that a byte out of place fails the test, and through HttpClient.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class TopicDirectWriteTests(BrokerFixture broker) : TopicTestBase(broker)
{
    [Fact]
    public async Task LiveSubscribers_GetEveryEventInOrder_WrittenByTheFeed()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic(nameof(LiveSubscribers_GetEveryEventInOrder_WrittenByTheFeed));
        var subscribers = new List<SseClient>();
        for (var i = 0; i < 3; i++)
        {
            subscribers.Add(await gateway.SubscribeAsync($"/topics/{topic}"));
        }

        try
        {
            await PublishAsync(topic, 0, 1);
            foreach (var subscriber in subscribers)
            {
                await subscriber.ReadItemsAsync(1, Timeout);
            }

            // Their writers handed over the sockets with the first event: the rest the feed writes itself.
            await PublishAsync(topic, 1, 99);
            foreach (var subscriber in subscribers)
            {
                AssertRun(await subscriber.ReadItemsAsync(100, Timeout), 0, 100);
            }

            Assert.InRange(Feed(gateway, topic).WrittenDirectly, 3 * 90, 3 * 99);
            Assert.True(await MetricAsync(gateway, "eventsourced_messages_delivered_total") >= 300);
        }
        finally
        {
            foreach (var subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task DirectWritesOff_EveryEventGoesThroughTheSubscribersWriter()
    {
        var gateway = await StartGatewayAsync(o => o.Sse.DirectWrites = false);
        var topic = UniqueTopic(nameof(DirectWritesOff_EveryEventGoesThroughTheSubscribersWriter));
        await using var subscriber = await gateway.SubscribeAsync($"/topics/{topic}");

        await PublishAsync(topic, 0, 50);

        AssertRun(await subscriber.ReadItemsAsync(50, Timeout), 0, 50);
        Assert.Equal(0, Feed(gateway, topic).WrittenDirectly);
    }

    [Fact]
    public async Task AfterTheFeedTookOver_HeartbeatsStillCome_AndShutdownEndsTheResponseProperly()
    {
        var gateway = await StartGatewayAsync(o => o.Server.HeartbeatSeconds = 1);
        var topic = UniqueTopic(nameof(AfterTheFeedTookOver_HeartbeatsStillCome_AndShutdownEndsTheResponseProperly));
        using var connection = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/topics/{topic}");
        Assert.Equal(200, connection.Status);
        Assert.Equal("chunked", connection.Header("Transfer-Encoding"));

        await PublishAsync(topic, 0, 2);
        await connection.ReadUntilAsync(body => body.Contains("data: event-1\n\n", StringComparison.Ordinal), Timeout);
        Assert.True(Feed(gateway, topic).WrittenDirectly >= 1);

        // Silent for longer than the heartbeat: comments, each its own chunk.
        var before = connection.Body.Length;
        await connection.ReadUntilAsync(body => body.Length > before && body[before..].Contains(": heartbeat\n\n", StringComparison.Ordinal), Timeout);

        await PublishAsync(topic, 2, 1);
        await connection.ReadUntilAsync(body => body.Contains("data: event-2\n\n", StringComparison.Ordinal), Timeout);

        var stopping = gateway.StopAsync();
        await connection.ReadToEndAsync(Timeout);
        await stopping.WaitAsync(Timeout);

        // The last chunk (size 0) came after the stream's last words: nothing written directly was cut or mixed in.
        Assert.True(connection.EndedWithLastChunk);
        Assert.Contains(": stream ended", connection.Body, StringComparison.Ordinal);
        var events = connection.Body.Split("\n\n").Where(e => e.Contains("data: ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["event-0", "event-1", "event-2"], events.Select(e => e[(e.IndexOf("data: ", StringComparison.Ordinal) + 6)..]));
    }

    [Fact]
    public async Task StreamEndedByTheBroker_TheSameConnectionThenServesTheNextRequest()
    {
        var gateway = await StartGatewayAsync();
        var topic = UniqueTopic(nameof(StreamEndedByTheBroker_TheSameConnectionThenServesTheNextRequest));
        using var connection = await RawSubscriber.OpenAsync(gateway.BaseAddress, $"/topics/{topic}", keepAlive: true);
        Assert.Equal(200, connection.Status);
        await PublishAsync(topic, 0, 20);
        await connection.ReadUntilAsync(body => body.Contains("data: event-19\n\n", StringComparison.Ordinal), Timeout);
        Assert.True(Feed(gateway, topic).WrittenDirectly >= 1);

        // Deleting the stream ends its consumer and so every subscriber, with a reason; the response ends properly.
        await Amqp.DeleteQueueAsync(topic);
        await connection.ReadToEndAsync(Timeout);
        Assert.True(connection.EndedWithLastChunk);
        Assert.Contains(": stream ended", connection.Body, StringComparison.Ordinal);

        // The connection is Kestrel's again, its socket as it was: the next request on it is answered.
        var next = await connection.SendAsync("/healthz", Timeout);
        Assert.Equal(200, next.Status);
    }

    private static TopicFeed Feed(GatewayServer gateway, string topic) =>
        gateway.Services.GetRequiredService<TopicHub>().FeedOf(topic) ?? throw new InvalidOperationException($"no feed of {topic}");

    /// <summary>An HTTP/1.1 subscriber on a raw socket that decodes the chunked body itself, refusing any malformed chunk.</summary>
    private sealed class RawSubscriber : IDisposable
    {
        private readonly Socket _socket;
        private readonly List<byte> _unread = [];
        private readonly StringBuilder _body = new();
        private readonly Dictionary<string, string> _headers = new(StringComparer.OrdinalIgnoreCase);
        private readonly Uri _server;

        private RawSubscriber(Socket socket, Uri server)
        {
            _socket = socket;
            _server = server;
        }

        public int Status { get; private set; }

        public string Body => _body.ToString();

        public bool EndedWithLastChunk { get; private set; }

        public string? Header(string name) => _headers.TryGetValue(name, out var value) ? value : null;

        public static async Task<RawSubscriber> OpenAsync(Uri server, string target, bool keepAlive = false)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, server.Port);
            var subscriber = new RawSubscriber(socket, server);
            await subscriber.RequestAsync(target, keepAlive, TimeSpan.FromSeconds(30));
            return subscriber;
        }

        /// <summary>Another request on the same connection, once the previous response has ended; its answer, read whole.</summary>
        public async Task<RawSubscriber> SendAsync(string target, TimeSpan timeout)
        {
            _body.Clear();
            EndedWithLastChunk = false;
            await RequestAsync(target, keepAlive: true, timeout);
            if (Header("Content-Length") is { } length)
            {
                using var cts = new CancellationTokenSource(timeout);
                while (_unread.Count < int.Parse(length, System.Globalization.CultureInfo.InvariantCulture))
                {
                    await FillAsync(cts.Token);
                }
            }
            else
            {
                await ReadToEndAsync(timeout);
            }

            return this;
        }

        public async Task ReadUntilAsync(Func<string, bool> done, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (!done(Body))
            {
                if (EndedWithLastChunk)
                {
                    throw new InvalidOperationException($"the response ended first: {Body}");
                }

                await ReadChunkAsync(cts.Token);
            }
        }

        public async Task ReadToEndAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (!EndedWithLastChunk)
            {
                await ReadChunkAsync(cts.Token);
            }
        }

        public void Dispose() => _socket.Dispose();

        private async Task RequestAsync(string target, bool keepAlive, TimeSpan timeout)
        {
            var request = $"GET {target} HTTP/1.1\r\nHost: {_server.Authority}\r\nAccept: text/event-stream\r\n" +
                (keepAlive ? string.Empty : "Connection: close\r\n") + "\r\n";
            await _socket.SendAsync(Encoding.ASCII.GetBytes(request));
            using var cts = new CancellationTokenSource(timeout);
            var head = await ReadLineAsync(cts.Token);
            Status = int.Parse(head.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            _headers.Clear();
            for (var line = await ReadLineAsync(cts.Token); line.Length > 0; line = await ReadLineAsync(cts.Token))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                _headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        private async Task ReadChunkAsync(CancellationToken cancellationToken)
        {
            var sizeLine = await ReadLineAsync(cancellationToken);
            var size = Convert.ToInt32(sizeLine, 16); // throws on anything but a chunk size
            while (_unread.Count < size + 2)
            {
                await FillAsync(cancellationToken);
            }

            if (_unread[size] != '\r' || _unread[size + 1] != '\n')
            {
                throw new InvalidOperationException($"chunk of {size} bytes not followed by CRLF: {Encoding.UTF8.GetString([.. _unread])}");
            }

            _body.Append(Encoding.UTF8.GetString([.. _unread.Take(size)]));
            _unread.RemoveRange(0, size + 2);
            EndedWithLastChunk = size == 0;
        }

        private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                for (var i = 0; i + 1 < _unread.Count; i++)
                {
                    if (_unread[i] == '\r' && _unread[i + 1] == '\n')
                    {
                        var line = Encoding.ASCII.GetString([.. _unread.Take(i)]);
                        _unread.RemoveRange(0, i + 2);
                        return line;
                    }
                }

                await FillAsync(cancellationToken);
            }
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[16 * 1024];
            var read = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new IOException($"connection closed; body so far: {Body}");
            }

            _unread.AddRange(buffer.AsSpan(0, read).ToArray());
        }
    }
}
