using System.Net;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>limits.*</c>: per client address at most N streams and M subscribe attempts a second (429 with Retry-After,
/// a reason and the CORS headers, outcome <c>rate_limited</c>), the client named by a trusted proxy's
/// X-Forwarded-For, and Kestrel's limits on request heads.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class LimitsTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task StreamsPerClient_TheOneTooMany_Gets429_UntilAStreamEnds()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.StreamsPerClient = 2);
        await using var first = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("lim1")}");
        var second = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("lim2")}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, second.Status);

        using (var third = await gateway.Client.GetAsync($"/?id={broker.UniqueQueueName("lim3")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.Equal("too many streams from this address", third.Headers.GetValues("X-Status-Reason").Single());
            Assert.True(third.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            Assert.Equal("*", third.Headers.GetValues("Access-Control-Allow-Origin").Single());
        }

        // A preflight is not a stream.
        using (var preflight = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Options, "/?id=x")))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        }

        await second.DisposeAsync();
        await Wait.UntilAsync(
            async () =>
            {
                await using var again = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("lim4")}");
                return again.Status == HttpStatusCode.OK;
            },
            Patience,
            "a stream again once one ended");
        Assert.Contains("eventsourced_streams_total{outcome=\"rate_limited\"}", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.DoesNotContain("eventsourced_streams_total{outcome=\"rate_limited\"} 0", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamsPerClient_CountsEveryTransportAndTopics()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.StreamsPerClient = 3);
        await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("limsse")}");
        await using var topic = await gateway.SubscribeAsync($"/topics/{broker.UniqueQueueName("limtopic")}");
        await using var ws = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName("limws")}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        Assert.Equal(HttpStatusCode.OK, topic.Status);
        Assert.True(ws.Connected, $"upgrade refused: {ws.Status} {ws.Reason}");

        // Three held: a fourth of any kind is one too many.
        await using (var wsTooMany = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName("limws2")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, wsTooMany.Status);
            Assert.Equal("too many streams from this address", wsTooMany.Reason);
        }

        foreach (var path in new[] { $"/poll?id={broker.UniqueQueueName("limpoll")}", $"/topics/{broker.UniqueQueueName("limtopic2")}", $"/ws/topics/{broker.UniqueQueueName("limtopic3")}" })
        {
            using var refused = await gateway.Client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }
    }

    [Fact]
    public async Task MaxSubscriptions_CountsEveryClientsStreamsAndHeldPolls_TheOneTooManyGets503_UntilOneEnds()
    {
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxSubscriptions = 3;
            o.Poll.WaitSeconds = 0;
            o.Poll.HoldSeconds = 2;
        }, log);
        var polled = broker.UniqueQueueName("maxsub-poll");

        // A poll answered at once leaves its subscription held (a broker channel) without any connection: it counts.
        using (var answered = await gateway.Client.GetAsync($"/poll?id={polled}"))
        {
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        await using var first = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("maxsub1")}");
        await using var topic = await gateway.SubscribeAsync($"/topics/{broker.UniqueQueueName("maxsub-topic")}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, topic.Status);

        // The limit is the gateway's, not a client's: any transport, any address, queue or topic.
        using (var over = await gateway.Client.GetAsync($"/poll?id={broker.UniqueQueueName("maxsub-over")}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);
            Assert.Equal("gateway at its subscription limit", over.Headers.GetValues("X-Status-Reason").Single());
            Assert.Equal(TimeSpan.FromSeconds(5), over.Headers.RetryAfter?.Delta);
        }

        await using (var overStream = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("maxsub-over2")}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, overStream.Status);
        }

        // A held subscription is polled again without another place.
        using (var again = await gateway.Client.GetAsync($"/poll?id={polled}"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        Assert.Equal(2, await gateway.MetricAsync("eventsourced_streams_total{outcome=\"overloaded\"}"));
        Assert.Single(log.Entries, e => e.EventId == 313);

        // The held poll ends after poll.hold: its place is free again.
        var next = broker.UniqueQueueName("maxsub-next");
        await Wait.UntilAsync(async () =>
        {
            using var response = await gateway.Client.GetAsync($"/poll?id={next}");
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(20), "a place is free once the held poll ended");
        Assert.Equal(3, await gateway.MetricAsync("eventsourced_streams_active"));

        // And once a stream ends: the refused ones took no place.
        await first.DisposeAsync();
        await Wait.UntilAsync(async () =>
        {
            await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("maxsub-after")}");
            return sse.Status == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(20), "a place is free once a stream ended");
    }

    [Fact]
    public async Task StreamsPerClient_CountsPollSubscriptionsHeldBetweenPolls()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 2;
            o.Poll.WaitSeconds = 0;
        });
        var first = broker.UniqueQueueName("limheld1");

        // Each poll answers at once; its subscription stays open (a channel, a consumer) for poll.hold.
        foreach (var queue in new[] { first, broker.UniqueQueueName("limheld2") })
        {
            using var answered = await gateway.Client.GetAsync($"/poll?id={queue}");
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        using (var third = await gateway.Client.GetAsync($"/poll?id={broker.UniqueQueueName("limheld3")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.Equal("too many streams from this address", third.Headers.GetValues("X-Status-Reason").Single());
            Assert.True(third.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }

        // A client polls what it holds as often as it likes.
        using var again = await gateway.Client.GetAsync($"/poll?id={first}");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Contains("eventsourced_streams_active 2", await gateway.Client.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamsPerClient_AHeldPollTakenFromAnotherAddress_CountsForThatAddress()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 2;
            o.Poll.WaitSeconds = 0;
        });
        using var other = new HttpClient(new SocketsHttpHandler
        {
            // A second client address: 127.0.0.2 (the client's own address changed, or another client reads the queue).
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        { BaseAddress = gateway.BaseAddress };
        var queues = new[] { broker.UniqueQueueName("limmove1"), broker.UniqueQueueName("limmove2") };
        foreach (var queue in queues)
        {
            using var answered = await gateway.Client.GetAsync($"/poll?id={queue}");
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        // The second address polls both held queues from now on: they are its two.
        foreach (var queue in queues)
        {
            using var taken = await other.GetAsync($"/poll?id={queue}");
            Assert.Equal(HttpStatusCode.OK, taken.StatusCode);
        }

        using (var third = await other.GetAsync($"/poll?id={broker.UniqueQueueName("limmove3")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        }

        // And the first address, which holds none now, may open two again.
        foreach (var queue in new[] { broker.UniqueQueueName("limmove4"), broker.UniqueQueueName("limmove5") })
        {
            using var opened = await gateway.Client.GetAsync($"/poll?id={queue}");
            Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
        }
    }

    [Fact]
    public async Task StreamsPerClient_HeldPollsAndStreamsShareOneBudget()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 2;
            o.Poll.WaitSeconds = 0;
        });
        var polled = broker.UniqueQueueName("limshare1");

        // One poll answered: its subscription is held (a channel, a consumer) until poll.hold, and counts as one stream.
        using (var answered = await gateway.Client.GetAsync($"/poll?id={polled}"))
        {
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }

        await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("limshare2")}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);

        // Two open: a third of any kind is one too many, the held poll's queue can still be polled.
        await using (var tooMany = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("limshare3")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, tooMany.Status);
            Assert.Equal("too many streams from this address", tooMany.Reason);
        }

        await using (var ws = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName("limshare4")}"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, ws.Status);
        }

        using (var again = await gateway.Client.GetAsync($"/poll?id={polled}"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        // The stream ends: room for one more, whatever its kind.
        await sse.DisposeAsync();
        await Wait.UntilAsync(
            async () =>
            {
                await using var next = await gateway.ConnectWebSocketAsync($"/ws?id={broker.UniqueQueueName("limshare5")}");
                return next.Connected;
            },
            Patience,
            "a WebSocket once the stream ended");
    }

    [Fact]
    public async Task SubscribesPerSecond_BurstOverTheRate_Gets429WithRetryAfter()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.SubscribesPerSecond = 3);

        // Attempts count whatever their answer: these are refused as bad requests (no id). Ten at once: the bucket
        // holds three, and refills three a second, so whatever the timing most of them are over the rate.
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => gateway.Client.GetAsync("/")));

        Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest) >= 3, "the bucket's three let through");
        var limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToArray();
        Assert.NotEmpty(limited);
        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest) + limited.Length);
        Assert.All(limited, r =>
        {
            Assert.Equal("too many subscribe attempts from this address", r.Headers.GetValues("X-Status-Reason").Single());
            Assert.Equal(TimeSpan.FromSeconds(1), r.Headers.RetryAfter?.Delta);
        });
        await Wait.UntilAsync(async () => (await gateway.Client.GetAsync("/")).StatusCode == HttpStatusCode.BadRequest, Patience, "attempts allowed again a second later");
    }

    [Fact]
    public async Task TrustedProxy_ForwardedClientsAreCountedApart_UntrustedForwardingIsIgnored()
    {
        await using var trusting = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.StreamsPerClient = 1);
        await using var a = await SubscribeAsAsync(trusting, "203.0.113.7");
        await using var b = await SubscribeAsAsync(trusting, "203.0.113.8");
        await using var a2 = await SubscribeAsAsync(trusting, "203.0.113.7");
        // What a client claims left of the proxy's entry does not count: the proxy appended the real address.
        await using var spoofed = await SubscribeAsAsync(trusting, "198.51.100.1, 203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, a.Status);
        Assert.Equal(HttpStatusCode.OK, b.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, a2.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, spoofed.Status);

        await using var distrusting = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 1;
            o.Limits.TrustedProxies = [];
        });
        await using var c = await SubscribeAsAsync(distrusting, "203.0.113.7");
        await using var d = await SubscribeAsAsync(distrusting, "203.0.113.8");
        Assert.Equal(HttpStatusCode.OK, c.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, d.Status);
    }

    [Theory]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:127.0.0.0/104")]
    [InlineData("::/0")]
    public async Task TrustedProxy_WrittenIPv4MappedIPv6_IsTrustedOnAnIPv4Listener(string trusted)
    {
        // The proxy's address as a dual-stack socket shows it (ss, a dual-stack log): limits.connections_per_client took it
        // for the IPv4 address it names, X-Forwarded-For did not, so every client behind the proxy shared one budget.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 1;
            o.Limits.TrustedProxies = [trusted];
        });
        await using var a = await SubscribeAsAsync(gateway, "203.0.113.7");
        await using var b = await SubscribeAsAsync(gateway, "203.0.113.8");
        await using var a2 = await SubscribeAsAsync(gateway, "203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, a.Status);
        Assert.Equal(HttpStatusCode.OK, b.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, a2.Status);
    }

    [Fact]
    public async Task ForwardedIPv6Clients_CountByTheConfiguredPrefix()
    {
        // limits.ipv6_prefix reaches the per-client limits through the gateway's options, not only ClientAddress's default:
        // two addresses of one /56 are one client, an address of the next /56 another.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.StreamsPerClient = 1;
            o.Limits.TrustedProxies = ["127.0.0.1"];
            o.Limits.Ipv6Prefix = 56;
        });
        await using var a = await SubscribeAsAsync(gateway, "2001:db8:1:200::1");
        await using var sameNetwork = await SubscribeAsAsync(gateway, "2001:db8:1:2ff:ffff::1");
        await using var nextNetwork = await SubscribeAsAsync(gateway, "2001:db8:1:300::1");
        Assert.Equal(HttpStatusCode.OK, a.Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, sameNetwork.Status);
        Assert.Equal(HttpStatusCode.OK, nextNetwork.Status);
    }

    [Fact]
    public async Task RequestHeadLimits_AreKestrels_AndConfigurable()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxRequestLineBytes = 1024;
            o.Limits.MaxRequestHeaderBytes = 4096;
            o.Limits.MaxRequestHeaders = 10;
        });

        Assert.Equal(414, await StatusOfAsync(gateway, $"GET /?id={new string('a', 1100)} HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal(431, await StatusOfAsync(gateway, $"GET /?id=a HTTP/1.1\r\nHost: x\r\nCookie: {new string('c', 5000)}\r\n\r\n"));
        var many = string.Concat(Enumerable.Range(0, 12).Select(i => $"X-H{i}: v\r\n"));
        Assert.Equal(431, await StatusOfAsync(gateway, $"GET /?id=a HTTP/1.1\r\nHost: x\r\n{many}\r\n"));
        Assert.Equal(400, await StatusOfAsync(gateway, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    }

    private async Task<SseClient> SubscribeAsAsync(GatewayServer gateway, string forwardedFor) =>
        await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("fwd")}", request => request.Headers.Add("X-Forwarded-For", forwardedFor));

    private static async Task<int> StatusOfAsync(GatewayServer gateway, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", gateway.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[64];
        var read = await stream.ReadAsync(buffer);
        var line = Encoding.ASCII.GetString(buffer, 0, read);
        return int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
