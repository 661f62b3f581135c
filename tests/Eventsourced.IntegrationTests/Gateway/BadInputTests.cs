using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

[Collection(BrokerCollection.Name)]
public sealed class BadInputTests(BrokerFixture broker) : IAsyncLifetime
{
    private GatewayServer _gateway = null!;

    public async Task InitializeAsync() =>
        _gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "q-${query:id}-${cookie:sid}");

    public Task DisposeAsync() => _gateway.DisposeAsync().AsTask();

    public static TheoryData<string, string?, string> BadRequests => new()
    {
        { "/", "sid=s1", "missing query parameter 'id'" },
        { "/?id=", "sid=s1", "missing query parameter 'id'" },
        { "/?id=1", null, "missing cookie 'sid'" },
        { "/?id=1", "sid=", "missing cookie 'sid'" },
        { "/?id=" + new string('x', 251), "sid=s1", "queue name longer than 255 bytes" },
        { "/?id=" + string.Concat(Enumerable.Repeat("%C3%BC", 126)), "sid=s1", "queue name longer than 255 bytes" },
        { "/?id=a%0Ab", "sid=s1", "queue name contains control characters" },
        { "/?id=a%00b", "sid=s1", "queue name contains control characters" },
        { "/?id=a%C2%85b", "sid=s1", "queue name contains control characters" },
        { "/?id=1&id=2", "sid=s1", "query parameter 'id' given more than once" },
        { "/?id=a%FF", "sid=s1", "query parameter 'id' is not valid percent-encoded UTF-8" },
        { "/?ID=1", "sid=s1", "missing query parameter 'id'" },
        { "/?id=1", "sid=s1; sid=s2", "cookie 'sid' given more than once" },
        { "/?id=1", "SID=s1", "missing cookie 'sid'" },
        { "/?id=user%E2%80%AE1", "sid=s1", "queue name contains invisible or bidirectional-control characters" },
        { "/?id=user%E2%80%8B1", "sid=s1", "queue name contains invisible or bidirectional-control characters" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Get_WithBadQueueName_Answers400WithReason(string path, string? cookie, string reason)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(reason, response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(reason + "\n", await response.Content.ReadAsStringAsync());
        // The body quotes the request (a queue name may be "<script>..."): never read as anything but text.
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        // A page's fetch may read the reason across origins.
        Assert.Equal("X-Status-Reason, Retry-After, WWW-Authenticate", response.Headers.GetValues("Access-Control-Expose-Headers").Single());
    }

    /// <summary>
    /// An invalid escape, byte for byte (HttpClient would send <c>%zz</c> as <c>%25zz</c>): read as the text
    /// <c>%zz</c> it would name the same queue as the valid <c>%25zz</c>.
    /// </summary>
    [Theory]
    [InlineData("/?id=a%zz")]
    [InlineData("/?id=a%2")]
    [InlineData("/?id=%")]
    public async Task Get_WithInvalidPercentEscape_Answers400(string target)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${query:id}");

        var response = await RawHttp.SendAsync(gateway.BaseAddress, "GET", target);

        Assert.Equal(400, response.Status);
        Assert.Equal("query parameter 'id' is not valid percent-encoded UTF-8", response.Header("X-Status-Reason"));
    }

    [Fact]
    public async Task Get_WithAmqPrefixInAnyCase_Answers400()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${query:id}");
        foreach (var name in new[] { "amq.x", "AMQ.gen-1", "Amq.Foo" })
        {
            using var response = await gateway.Client.GetAsync($"/?id={name}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("queue name must not start with 'amq.'", response.Headers.GetValues("X-Status-Reason").Single());
        }
    }

    [Fact]
    public async Task Get_With255ByteName_IsAccepted()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Queue.Pattern = "${query:id}");
        var name = "t255-" + Guid.NewGuid().ToString("N") + new string('y', 255 - 5 - 32);
        await using var sse = await gateway.SubscribeAsync($"/?id={name}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
    }

    [Fact]
    public async Task Options_Answers204WithCorsHeaders()
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/?id=1");
        request.Headers.Add("Origin", "https://app.example");
        request.Headers.Add("Access-Control-Request-Method", "GET");

        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("GET, OPTIONS", response.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal("Content-Type, Accept, Cache-Control, Authorization, Last-Event-ID", response.Headers.GetValues("Access-Control-Allow-Headers").Single());
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    [InlineData("HEAD")]
    public async Task OtherMethods_Answer405WithAllowAndCors(string method)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), "/?id=1");
        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(["GET", "OPTIONS"], response.Content.Headers.Allow.Order());
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("method not allowed", response.Headers.GetValues("X-Status-Reason").Single());
    }

    [Fact]
    public async Task AnyPathBelowSlash_IsTheStream_AsInTheOriginal()
    {
        using var response = await _gateway.Client.GetAsync("/some/deep/path");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("missing query parameter 'id'", response.Headers.GetValues("X-Status-Reason").Single());
    }

    [Theory]
    [InlineData("/poll/topics/news", "no such endpoint: long-polls are served at /poll (queues); topics are not long-polled, stream them from /topics/NAME")]
    [InlineData("/POLL/x", "no such endpoint: long-polls are served at /poll (queues); topics are not long-polled, stream them from /topics/NAME")]
    [InlineData("/ws/x", "no such endpoint: WebSockets are served at /ws (topics at /ws/topics/NAME)")]
    [InlineData("/poll&ack=", "no such endpoint: long-polls are served at /poll; a query follows a '?' (/poll?NAME=VALUE), not a '&'")]
    [InlineData("/poll&ack=3f2a-1", "no such endpoint: long-polls are served at /poll; a query follows a '?' (/poll?NAME=VALUE), not a '&'")]
    [InlineData("/ws&access_token=x", "no such endpoint: WebSockets are served at /ws; a query follows a '?' (/ws?NAME=VALUE), not a '&'")]
    public async Task PathBelowThePollOrWebSocketPath_Is404WithWhereTheyAre_NotAStream(string path, string reason)
    {
        // Taken for the stream (server.path / covers them), a fetch meant for a long-poll got an event stream of its queue:
        // the messages were acknowledged into a response the client never reads to its end.
        var queue = broker.UniqueQueueName(nameof(PathBelowThePollOrWebSocketPath_Is404WithWhereTheyAre_NotAStream));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await using var amqp = await broker.ConnectAsync(nameof(PathBelowThePollOrWebSocketPath_Is404WithWhereTheyAre_NotAStream));

        using var response = await gateway.Client.GetAsync($"{path}?id={queue}", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(reason, response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(await amqp.QueueExistsAsync(queue));
        // The endpoints themselves, and other paths below server.path, are served as before.
        using var poll = await gateway.Client.GetAsync($"/poll?id={queue}-p");
        Assert.Equal("application/json; charset=utf-8", poll.Content.Headers.ContentType?.ToString());
        using var stream = await gateway.Client.GetAsync($"/polls/x?id={queue}-s", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream; charset=utf-8", stream.Content.Headers.ContentType?.ToString());
    }

    [Theory]
    [InlineData("/?id=", false)]
    [InlineData("/?id=", true)]
    [InlineData("/topics/", false)]
    [InlineData("/topics/", true)]
    [InlineData("/poll?id=", false)]
    [InlineData("/poll?id=", true)]
    public async Task Get_WithABody_Is400AtOnce_NothingConsumed(string endpoint, bool chunked)
    {
        // Never read, each such body stayed in the server's request buffer (up to 1 MB) as long as its stream ran: 200
        // topic streams with a chunked GET body held 214 MB more than without.
        var name = broker.UniqueQueueName(nameof(Get_WithABody_Is400AtOnce_NothingConsumed));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Poll.WaitSeconds = 1);
        await using var amqp = await broker.ConnectAsync(nameof(Get_WithABody_Is400AtOnce_NothingConsumed));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.Port, cts.Token);
        await using var stream = client.GetStream();
        // A body far longer than what is sent of it: the answer does not wait for the rest.
        var head = $"GET {endpoint}{name} HTTP/1.1\r\nHost: {gateway.BaseAddress.Authority}\r\n"
            + (chunked ? "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" : "Content-Length: 1000000\r\n\r\nhello");
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head), cts.Token);

        var answer = string.Empty;
        var buffer = new byte[4096];
        while (!answer.Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            Assert.NotEqual(0, read);
            answer += System.Text.Encoding.ASCII.GetString(buffer, 0, read);
        }

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Status-Reason: a GET request must not have a body (Content-Length or Transfer-Encoding)\r\n", answer, StringComparison.Ordinal);
        Assert.False(await amqp.QueueExistsAsync(name));
        Assert.False(await amqp.QueueExistsAsync("topic." + name));
        // Content-Length: 0 is no body: served as before.
        using var empty = new HttpRequestMessage(HttpMethod.Get, $"{endpoint}{name}") { Content = new ByteArrayContent([]) };
        using var served = await gateway.Client.SendAsync(empty, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Theory]
    [InlineData("/", "/poll/x")]
    [InlineData("/", "/poll&ack=")]
    [InlineData("/events", "/other")]
    public async Task PreflightOfAPathNoEndpointServes_Is204_SoThatThePageReadsThe404(string serverPath, string path)
    {
        // A page's fetch with Authorization is preflighted; a 404 preflight fails in the browser as a network error, and the
        // page never sees the 404's reason. The preflight passes, and the GET gets the readable 404.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Path = serverPath);
        using var preflight = new HttpRequestMessage(HttpMethod.Options, path + "?id=1");
        preflight.Headers.Add("Origin", "https://app.example");
        preflight.Headers.Add("Access-Control-Request-Method", "GET");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization");
        using var answer = await gateway.Client.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        Assert.Equal("*", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("Authorization", answer.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.Ordinal);

        using var get = new HttpRequestMessage(HttpMethod.Get, path + "?id=1");
        get.Headers.Add("Origin", "https://app.example");
        using var refused = await gateway.Client.SendAsync(get, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.StartsWith("no such endpoint", refused.Headers.GetValues("X-Status-Reason").Single(), StringComparison.Ordinal);

        // An OPTIONS that is no preflight is answered as before.
        using var options = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Options, path + "?id=1"));
        Assert.Equal(HttpStatusCode.NotFound, options.StatusCode);
    }

    [Fact]
    public async Task ExactStreamPath_ServesOnlyThatPath()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Path = "/events");
        using var other = await gateway.Client.GetAsync("/other?id=1");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);

        // A clear answer, as every refusal: the reason in X-Status-Reason and the body (it was an empty 404).
        Assert.Equal("no such endpoint", other.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal("no such endpoint\n", await other.Content.ReadAsStringAsync());
        // A path that is served, with another method: still 405, not 404.
        using var post = await gateway.Client.PostAsync("/metrics", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

        var queue = broker.UniqueQueueName(nameof(ExactStreamPath_ServesOnlyThatPath));
        await using var sse = await gateway.SubscribeAsync($"/events?id={queue}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
    }

    /// <summary>
    /// Every answer a page of an allowed origin gets is readable by its <c>fetch</c> (status and <c>X-Status-Reason</c>):
    /// the 404 of a path no endpoint serves carried no CORS headers, so such a page saw only a CORS error. A page of an
    /// origin the list leaves out gets none of the <c>Access-Control-*</c> headers, on any path.
    /// </summary>
    [Fact]
    public async Task EveryRefusal_CarriesTheCorsHeaders_ForAnAllowedOrigin_AndNoneForARefusedOne()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Path = "/events";
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example";
        });
        var requests = new (HttpMethod Method, string Path, HttpStatusCode Status)[]
        {
            (HttpMethod.Get, "/nothing", HttpStatusCode.NotFound),
            (HttpMethod.Get, "/events", HttpStatusCode.BadRequest),
            (HttpMethod.Get, "/poll", HttpStatusCode.BadRequest),
            (HttpMethod.Get, "/topics/", HttpStatusCode.BadRequest),
            (HttpMethod.Post, "/events?id=1", HttpStatusCode.MethodNotAllowed),
            (HttpMethod.Post, "/poll?id=1", HttpStatusCode.MethodNotAllowed),
            (HttpMethod.Post, "/topics/t", HttpStatusCode.MethodNotAllowed),
            (HttpMethod.Get, "/ws?id=1", HttpStatusCode.UpgradeRequired),
        };

        foreach (var (method, path, status) in requests)
        {
            using var allowed = new HttpRequestMessage(method, path);
            allowed.Headers.Add("Origin", "https://app.example");
            using var answer = await gateway.Client.SendAsync(allowed);
            Assert.Equal(status, answer.StatusCode);
            Assert.True(answer.Headers.Contains("X-Status-Reason"), $"{method} {path}: X-Status-Reason");
            Assert.Equal("https://app.example", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());
            Assert.Equal("X-Status-Reason, Retry-After, WWW-Authenticate", answer.Headers.GetValues("Access-Control-Expose-Headers").Single());
            Assert.Contains("Origin", answer.Headers.Vary);

            using var refused = new HttpRequestMessage(method, path);
            refused.Headers.Add("Origin", "https://evil.example");
            using var refusal = await gateway.Client.SendAsync(refused);
            Assert.True(refusal.Headers.Contains("X-Status-Reason"), $"{method} {path}: X-Status-Reason");
            Assert.DoesNotContain(refusal.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
        }

        // Routing's own 405 (an observability endpoint, no CORS there) says why as well.
        using var post = await gateway.Client.PostAsync("/metrics", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal("method not allowed", post.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(["GET", "HEAD"], post.Content.Headers.Allow.Order());
    }

    /// <summary>
    /// With a <c>server.path</c> ending in <c>/</c> the stream's catch-all takes every method at <c>/healthz</c>,
    /// <c>/readyz</c>, <c>/metrics</c> and <c>/debug/vars</c> that their endpoints do not: a POST there got the stream's
    /// <c>405</c> with <c>Allow: GET, OPTIONS</c>, while the path takes GET and HEAD (and OPTIONS is not served there).
    /// </summary>
    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    [InlineData("/debug/vars")]
    public async Task OtherMethod_AtAnEndpointUnderTheStreamsPath_IsAnswered405WithThatEndpointsAllow(string path)
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Path = "/");

        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete })
        {
            using var request = new HttpRequestMessage(method, path);
            using var answer = await gateway.Client.SendAsync(request);

            Assert.Equal(HttpStatusCode.MethodNotAllowed, answer.StatusCode);
            Assert.Equal("method not allowed", answer.Headers.GetValues("X-Status-Reason").Single());
            Assert.Equal(["GET", "HEAD"], answer.Content.Headers.Allow.Order());
        }

        using var head = new HttpRequestMessage(HttpMethod.Head, path);
        using var served = await gateway.Client.SendAsync(head);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }
}
