using System.Net;
using Eventsourced.Configuration;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.IntegrationTests.Observability;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>Subscriber tokens through a real gateway: who may read which queue, answers, outcomes, expiry.</summary>
[Collection(BrokerCollection.Name)]
public sealed class AuthTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private Task<GatewayServer> StartAsync(Action<GatewayOptions>? configure = null) =>
        GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.Secret = TestTokens.Secret;
            configure?.Invoke(o);
        });

    [Fact]
    public async Task Get_WithoutToken_Answers401WithBearerChallengeAndCountsUnauthorized()
    {
        await using var gateway = await StartAsync();
        var queue = broker.UniqueQueueName(nameof(Get_WithoutToken_Answers401WithBearerChallengeAndCountsUnauthorized));

        using var response = await gateway.Client.GetAsync($"/?id={queue}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer error=\"invalid_token\", error_description=\"no token (send it as Authorization: Bearer or access_token)\"",
            response.Headers.WwwAuthenticate.ToString());
        Assert.Equal("no token (send it as Authorization: Bearer or access_token)", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var scrape = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(1, scrape.Value("eventsourced_streams_total", ("outcome", "unauthorized")));
        Assert.Equal(0, scrape.Value("eventsourced_streams_total", ("outcome", "forbidden")));
        await using var amqp = await broker.ConnectAsync(nameof(Get_WithoutToken_Answers401WithBearerChallengeAndCountsUnauthorized));
        Assert.False(await amqp.QueueExistsAsync(queue), "a refused request must not declare its queue");
    }

    /// <summary>
    /// <c>auth.jwt.jwks_url</c> unreachable since the start: no key set, so no RSA or EC token can be verified. The
    /// answer is the gateway's state (503, try again), not a verdict on the client's token (401, which has pages renew
    /// good tokens and counts as unauthorized, whose alert points at keys and clocks).
    /// </summary>
    [Fact]
    public async Task Get_KeySetNeverFetched_Answers503WithRetryAfter_AndCountsKeysUnavailable()
    {
        using var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there now: every fetch of the set is refused
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Auth.Jwt.JwksUrl = $"http://127.0.0.1:{port}/jwks.json");
        var queue = broker.UniqueQueueName(nameof(Get_KeySetNeverFetched_Answers503WithRetryAfter_AndCountsKeysUnavailable));
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var token = TestTokens.Sign(new Microsoft.IdentityModel.Tokens.RsaSecurityKey(key) { KeyId = "k1" }, Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha256, TestTokens.Claims("1", queue));

        using var response = await gateway.Client.GetAsync($"/?id={queue}&access_token={token}", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("signing keys unavailable: auth.jwt.jwks_url's key set could not be fetched yet", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(response.Headers.WwwAuthenticate);
        var scrape = await Exposition.ScrapeAsync(gateway.Client);
        Assert.Equal(1, scrape.Value("eventsourced_streams_total", ("outcome", "keys_unavailable")));
        Assert.Equal(0, scrape.Value("eventsourced_streams_total", ("outcome", "unauthorized")));
        await using var amqp = await broker.ConnectAsync(nameof(Get_KeySetNeverFetched_Answers503WithRetryAfter_AndCountsKeysUnavailable));
        Assert.False(await amqp.QueueExistsAsync(queue), "a refused request must not declare its queue");
    }

    [Theory]
    [InlineData("expired")]
    [InlineData("forged")]
    [InlineData("unsigned")]
    [InlineData("critical")]
    public async Task Get_WithBadToken_Answers401(string kind)
    {
        await using var gateway = await StartAsync();
        var queue = broker.UniqueQueueName(nameof(Get_WithBadToken_Answers401));
        var token = kind switch
        {
            "expired" => TestTokens.Hs256(TestTokens.Claims("1", queue), TimeSpan.FromMinutes(-5)),
            "forged" => TestTokens.WithPayload(TestTokens.Hs256(TestTokens.Claims("1", "mine")), TestTokens.Claims("1", queue)),
            "critical" => TestTokens.Hs256WithHeader(new Dictionary<string, object> { ["crit"] = new[] { "b64" }, ["b64"] = false }, TestTokens.Claims("1", queue)),
            _ => TestTokens.Unsigned(TestTokens.Claims("1", queue)),
        };

        // Headers only: a token taken by mistake would open a stream, whose body never ends.
        using var response = await gateway.Client.GetAsync($"/?id={queue}&access_token={token}", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("Bearer error=\"invalid_token\", error_description=", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TokenListingTheQueue_Streams()
    {
        await using var gateway = await StartAsync();
        var queue = broker.UniqueQueueName(nameof(Get_TokenListingTheQueue_Streams));
        var token = TestTokens.Hs256(TestTokens.Claims("7", queue));

        await using var sse = await gateway.SubscribeAsync($"/?id={queue}", r => r.Headers.Authorization = new("Bearer", token));
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await using var amqp = await broker.ConnectAsync(nameof(Get_TokenListingTheQueue_Streams));
        await amqp.PublishAsync(queue, "for the token's holder");

        Assert.Equal(["for the token's holder"], await sse.ReadEventsAsync(1, Patience));
    }

    [Fact]
    public async Task Get_ValidTokenForAnotherQueue_Answers403AndDeclaresNothing()
    {
        await using var gateway = await StartAsync();
        var mine = broker.UniqueQueueName("mine");
        var theirs = broker.UniqueQueueName("theirs");
        var token = TestTokens.Hs256(TestTokens.Claims("7", mine));

        using var response = await gateway.Client.GetAsync($"/?id={theirs}&access_token={token}");
        using var noClaim = await gateway.Client.GetAsync($"/?id={theirs}&access_token={TestTokens.Hs256(TestTokens.Claims("7"))}");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal($"token does not permit reading queue '{theirs}': its claim 'queues' does not list it", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(HttpStatusCode.Forbidden, noClaim.StatusCode);
        // A token issued without the claim auth.read_claims reads: the application learns which claim it lacks.
        Assert.Equal($"token does not permit reading queue '{theirs}': its claim 'queues' is missing or empty", noClaim.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(2, (await Exposition.ScrapeAsync(gateway.Client)).Value("eventsourced_streams_total", ("outcome", "forbidden")));
        await using var amqp = await broker.ConnectAsync(nameof(Get_ValidTokenForAnotherQueue_Answers403AndDeclaresNothing));
        Assert.False(await amqp.QueueExistsAsync(theirs));
    }

    [Fact]
    public async Task Get_ClaimPattern_ReadsOnlyTheTokensOwnQueue()
    {
        var prefix = broker.UniqueQueueName("user");
        await using var gateway = await StartAsync(o => o.Queue.Pattern = prefix + "-${claim:sub}");
        var token = TestTokens.Hs256(TestTokens.Claims("42"));

        // ?id= is not part of the pattern: whatever the URL says, the token names the queue.
        await using var sse = await gateway.SubscribeAsync($"/?id=43&access_token={token}");
        using var withoutSub = await gateway.Client.GetAsync($"/?access_token={TestTokens.Hs256(new Dictionary<string, object> { ["name"] = "x" })}");

        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await using var amqp = await broker.ConnectAsync(nameof(Get_ClaimPattern_ReadsOnlyTheTokensOwnQueue));
        await amqp.PublishAsync(prefix + "-42", "yours");
        Assert.Equal(["yours"], await sse.ReadEventsAsync(1, Patience));
        Assert.Equal(HttpStatusCode.BadRequest, withoutSub.StatusCode);
        Assert.Equal("token has no claim 'sub'", withoutSub.Headers.GetValues("X-Status-Reason").Single());
    }

    [Fact]
    public async Task Get_ClaimBeforeARequestValue_AClaimContainingTheSeparator_Is400_SoNoTokenOpensAnothersQueue()
    {
        // Before: sub 12-5 asking for ?id=inbox and sub 12 asking for ?id=5-inbox both opened PREFIX-12-5-inbox.
        var prefix = broker.UniqueQueueName("user");
        await using var gateway = await StartAsync(o => o.Queue.Pattern = prefix + "-${claim:sub}-${query:id}");
        await using var amqp = await broker.ConnectAsync(nameof(Get_ClaimBeforeARequestValue_AClaimContainingTheSeparator_Is400_SoNoTokenOpensAnothersQueue));

        await using var owner = await gateway.SubscribeAsync($"/?id=5-inbox&access_token={TestTokens.Hs256(TestTokens.Claims("12"))}");
        Assert.Equal(HttpStatusCode.OK, owner.Status);
        Assert.Equal(1u, await amqp.ConsumerCountAsync(prefix + "-12-5-inbox"));
        await owner.DisposeAsync();

        using var other = await gateway.Client.GetAsync($"/?id=inbox&access_token={TestTokens.Hs256(TestTokens.Claims("12-5"))}");
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode);
        Assert.Equal(
            "token claim 'sub' must not contain '-': the pattern separates a token's claim with it, and two tokens could build the same name",
            other.Headers.GetValues("X-Status-Reason").Single());
    }

    [Theory]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567891")]
    [InlineData("9223372036854775808", "9223372036854775809")]
    [InlineData("1e400", "1e500")]
    [InlineData("1.5e3", "1500.0000000000001")]
    public async Task Get_ClaimPattern_NumbersThatAreNo64BitInteger_NameTheQueueAsWritten_NotRoundedToTheSameName(string one, string other)
    {
        // Before: IdentityModel gives such a claim the text of the nearest double, so that both tokens of each pair read
        // the queue user-1.2345678901234568E+29 (user-9.223372036854776E+18, user-Infinity, user-1500): another user's.
        var prefix = broker.UniqueQueueName("user");
        await using var gateway = await StartAsync(o => o.Queue.Pattern = prefix + "-${claim:sub}");
        var expiry = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        await using var amqp = await broker.ConnectAsync(nameof(Get_ClaimPattern_NumbersThatAreNo64BitInteger_NameTheQueueAsWritten_NotRoundedToTheSameName));

        foreach (var sub in new[] { one, other })
        {
            var token = Hs256Raw($"{{\"sub\": {sub}, \"exp\": {expiry}}}");
            await using var sse = await gateway.SubscribeAsync($"/?access_token={token}");
            Assert.Equal(HttpStatusCode.OK, sse.Status);
            Assert.Equal(1u, await amqp.ConsumerCountAsync($"{prefix}-{sub}"));
        }
    }

    /// <summary>An HS256 token of <paramref name="payload"/> exactly as given (numbers that no serializer of ours writes so).</summary>
    private static string Hs256Raw(string payload)
    {
        var signed = TestTokens.Base64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") + "." + TestTokens.Base64Url(payload);
        var signature = System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(TestTokens.Secret), System.Text.Encoding.ASCII.GetBytes(signed));
        return signed + "." + Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(signature);
    }

    [Fact]
    public async Task Get_ClaimPattern_TokenWithAnEmptyQueuesList_IsHeldToIt_AndReadsNoQueue()
    {
        // "queues": [] makes no claim in IdentityModel's identity, and a token without a queues claim reads the queue
        // the pattern names from its own claims: the token issued to read no queue read that one.
        var prefix = broker.UniqueQueueName("user");
        await using var gateway = await StartAsync(o => o.Queue.Pattern = prefix + "-${claim:sub}");
        var empty = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = "42", ["queues"] = Array.Empty<string>() });

        await using (var refused = await gateway.SubscribeAsync($"/?access_token={empty}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
            Assert.Equal($"token does not permit reading queue '{prefix}-42': its claim 'queues' does not list it", refused.Reason);
        }

        await using var amqp = await broker.ConnectAsync(nameof(Get_ClaimPattern_TokenWithAnEmptyQueuesList_IsHeldToIt_AndReadsNoQueue));
        Assert.False(await amqp.QueueExistsAsync(prefix + "-42"));

        // Without the claim at all, the token's own queue, as before.
        await using var sse = await gateway.SubscribeAsync($"/?access_token={TestTokens.Hs256(TestTokens.Claims("42"))}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
    }

    [Fact]
    public async Task Stream_TokenExpires_EndsWithACommentAndLosesNothing()
    {
        await using var gateway = await StartAsync(o => o.Auth.Jwt.ClockSkewSeconds = 0);
        var queue = broker.UniqueQueueName(nameof(Stream_TokenExpires_EndsWithACommentAndLosesNothing));
        var token = TestTokens.Hs256(TestTokens.Claims("7", queue), TimeSpan.FromSeconds(4));
        await using var amqp = await broker.ConnectAsync(nameof(Stream_TokenExpires_EndsWithACommentAndLosesNothing));

        await using var sse = await gateway.SubscribeAsync($"/?id={queue}&access_token={token}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await amqp.PublishAsync(queue, "before expiry");
        Assert.Equal(["before expiry"], await sse.ReadEventsAsync(1, Patience));
        await sse.WaitForEndAsync(Patience);

        Assert.EndsWith(": token expired; subscribe again with a new token\n\n", sse.RawText, StringComparison.Ordinal);
        using var again = await gateway.Client.GetAsync($"/?id={queue}&access_token={token}");
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        Assert.Equal("Bearer error=\"invalid_token\", error_description=\"token expired\"", again.Headers.WwwAuthenticate.ToString());

        // Published after the end: waits in the queue for the next subscriber, with a fresh token.
        await amqp.PublishAsync(queue, "after expiry");
        await using var renewed = await gateway.SubscribeAsync($"/?id={queue}&access_token={TestTokens.Hs256(TestTokens.Claims("7", queue))}");
        Assert.Equal(["after expiry"], await renewed.ReadEventsAsync(1, Patience));
    }

    /// <summary><c>sse.end_event</c>: the end at expiry is also an event a page sees, so it fetches a new token before it reconnects.</summary>
    [Fact]
    public async Task Stream_TokenExpires_WithAnEndEvent_SaysSoInAnEventThePageSees()
    {
        await using var gateway = await StartAsync(o =>
        {
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Sse.EndEvent = "end";
        });
        var queue = broker.UniqueQueueName(nameof(Stream_TokenExpires_WithAnEndEvent_SaysSoInAnEventThePageSees));
        var token = TestTokens.Hs256(TestTokens.Claims("7", queue), TimeSpan.FromSeconds(2));

        await using var sse = await gateway.SubscribeAsync($"/?id={queue}&access_token={token}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await sse.WaitForEndAsync(Patience);

        Assert.EndsWith(": token expired; subscribe again with a new token\n\nevent: end\ndata: token expired\n\n", sse.RawText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_TokenExpiresWithEndAtExpiryOff_StaysOpen()
    {
        await using var gateway = await StartAsync(o =>
        {
            o.Auth.Jwt.ClockSkewSeconds = 0;
            o.Auth.EndAtExpiry = false;
        });
        var queue = broker.UniqueQueueName(nameof(Stream_TokenExpiresWithEndAtExpiryOff_StaysOpen));
        var token = TestTokens.Hs256(TestTokens.Claims("7", queue), TimeSpan.FromSeconds(2));

        await using var sse = await gateway.SubscribeAsync($"/?id={queue}&access_token={token}");
        await Task.Delay(TimeSpan.FromSeconds(4));
        await using var amqp = await broker.ConnectAsync(nameof(Stream_TokenExpiresWithEndAtExpiryOff_StaysOpen));
        await amqp.PublishAsync(queue, "still here");

        Assert.Equal(["still here"], await sse.ReadEventsAsync(1, Patience));
        Assert.False(sse.Ended);
    }

    [Fact]
    public async Task CookieSubscriber_AnotherSitesNavigationOrABrowsersRequestThatCannotRead_Is403_OnEveryHttpTransport_NothingConsumed()
    {
        // A link, a script's navigation (window.location) or an image of another site's page sends no Origin but the
        // user's cookies (SameSite=Lax, as the README advised: every top-level navigation; seen in Chromium): such a
        // page opened the visitor's stream, which consumed the queue for a page that could never read it.
        var queue = broker.UniqueQueueName(nameof(CookieSubscriber_AnotherSitesNavigationOrABrowsersRequestThatCannotRead_Is403_OnEveryHttpTransport_NothingConsumed));
        await using var amqp = await broker.ConnectAsync(nameof(CookieSubscriber_AnotherSitesNavigationOrABrowsersRequestThatCannotRead_Is403_OnEveryHttpTransport_NothingConsumed));
        await amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        await amqp.PublishAsync(queue, "private");
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Queue.Pattern = "${cookie:sid}";
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example";
            o.Header.Cors["Access-Control-Allow-Credentials"] = "true";
        });

        foreach (var (path, fetchSite, destination) in new[] { ("/", "cross-site", "document"), ("/poll", "cross-site", "document"), ("/", "same-site", "iframe") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("Cookie", $"sid={queue}");
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
            request.Headers.Add("Sec-Fetch-Mode", "navigate");
            request.Headers.Add("Sec-Fetch-Dest", destination);
            using var refused = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.StartsWith("cookies are accepted from another site's page only in a request that names its origin", refused.Headers.GetValues("X-Status-Reason").Single(), StringComparison.Ordinal);
        }

        // The browser's own follow-up after the 403 page: its icon, from the gateway's origin, with the visitor's cookie
        // (it consumed the message in a Chromium run); and a link from outside the browser (an e-mail) opening a tab.
        foreach (var (path, fetchSite, destination) in new[] { ("/favicon.ico", "same-origin", "image"), ("/", "none", "document"), ("/poll", "same-origin", "script") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("Cookie", $"sid={queue}");
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
            request.Headers.Add("Sec-Fetch-Mode", destination == "document" ? "navigate" : "no-cors");
            request.Headers.Add("Sec-Fetch-Dest", destination);
            using var refused = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal($"cookies are accepted only in a request that can read the stream (EventSource, fetch, WebSocket), not for Sec-Fetch-Dest '{destination}'", refused.Headers.GetValues("X-Status-Reason").Single());
        }

        Assert.Equal(1u, await amqp.MessageCountAsync(queue));

        // The gateway's own pages (and curl, which sends no Sec-Fetch-Site) still read it.
        using var own = new HttpRequestMessage(HttpMethod.Get, "/poll");
        own.Headers.Add("Cookie", $"sid={queue}");
        own.Headers.Add("Sec-Fetch-Site", "same-origin");
        own.Headers.Add("Sec-Fetch-Dest", "empty");
        using var answer = await gateway.Client.SendAsync(own);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Contains("private", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hosts_ARequestForAnotherHostName_Is400_OnEveryHttpTransport_TheServedNameStreams()
    {
        // DNS rebinding: a page of attacker.example whose name now resolves to the gateway is of the gateway's own
        // origin by its Host; server.hosts names the hosts the gateway answers for.
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Server.Hosts = ["push.example"]);
        var queue = broker.UniqueQueueName(nameof(Hosts_ARequestForAnotherHostName_Is400_OnEveryHttpTransport_TheServedNameStreams));

        foreach (var path in new[] { $"/?id={queue}", $"/poll?id={queue}", $"/topics/{queue}" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = "attacker.example:2069";
            request.Headers.Add("Origin", "http://attacker.example:2069");
            using var refused = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("host 'attacker.example' is not served here (server.hosts)", refused.Headers.GetValues("X-Status-Reason").Single());
        }

        await using var amqp = await broker.ConnectAsync(nameof(Hosts_ARequestForAnotherHostName_Is400_OnEveryHttpTransport_TheServedNameStreams));
        Assert.False(await amqp.QueueExistsAsync(queue), "nothing declared for another host");

        await using var served = await gateway.SubscribeAsync($"/?id={queue}", r => r.Headers.Host = "PUSH.example:2069");
        Assert.Equal(HttpStatusCode.OK, served.Status);
    }

    [Fact]
    public async Task Get_OriginList_AnswersListedOriginsAndRefusesOthers()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
            o.Header.Cors["Access-Control-Allow-Origin"] = "https://app.example, https://admin.example");
        var queue = broker.UniqueQueueName(nameof(Get_OriginList_AnswersListedOriginsAndRefusesOthers));

        await using var listed = await gateway.SubscribeAsync($"/?id={queue}", r => r.Headers.Add("Origin", "https://admin.example"));
        using var unlistedRequest = new HttpRequestMessage(HttpMethod.Get, $"/?id={queue}-other");
        unlistedRequest.Headers.Add("Origin", "https://evil.example");
        using var unlisted = await gateway.Client.SendAsync(unlistedRequest);

        Assert.Equal(HttpStatusCode.OK, listed.Status);
        Assert.Equal("https://admin.example", listed.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("Origin", listed.Response.Headers.Vary);
        Assert.Equal(HttpStatusCode.Forbidden, unlisted.StatusCode);
        Assert.False(unlisted.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Equal("origin not allowed", unlisted.Headers.GetValues("X-Status-Reason").Single());
        await using var amqp = await broker.ConnectAsync(nameof(Get_OriginList_AnswersListedOriginsAndRefusesOthers));
        Assert.False(await amqp.QueueExistsAsync(queue + "-other"), "nothing may be consumed for a page of an unlisted origin");
    }

    /// <summary>
    /// The executable at trace level, text and JSON: a query token (valid, and refused) appears in no log line,
    /// neither the gateway's own nor ASP.NET Core's request logging.
    /// </summary>
    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    public async Task Log_QueryToken_NeverAppears(string format)
    {
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName(nameof(Log_QueryToken_NeverAppears));
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_AUTH__JWT__SECRET"] = TestTokens.Secret,
            ["EVENTSOURCED_LOG__FORMAT"] = format,
            ["EVENTSOURCED_LOG__LEVEL"] = "trace",
        });
        using var client = await process.ListeningClientAsync(port, Patience);
        var valid = TestTokens.Hs256(TestTokens.Claims("7", queue));
        var expired = TestTokens.Hs256(TestTokens.Claims("7", queue), TimeSpan.FromMinutes(-5));
        var forbidden = TestTokens.Hs256(TestTokens.Claims("7", "other"));

        await using (var sse = await SseClient.OpenAsync(client, $"/?id={queue}&access_token={valid}", null, CancellationToken.None))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
            await sse.ReadUntilAsync(text => text.Contains(": SSE stream", StringComparison.Ordinal), Patience);
        }

        using (var refused = await client.GetAsync($"/?id={queue}&access_token={expired}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using (var refused = await client.GetAsync($"/?id={queue}&access_token={forbidden}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        using (var malformed = await client.GetAsync($"/?id={queue}&access_token=secret-looking-{valid[..20]}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, malformed.StatusCode);
        }

        await Wait.UntilAsync(() => process.Stdout.Contains("[301]", StringComparison.Ordinal) || process.Stdout.Contains("\"EventId\":301", StringComparison.Ordinal), Patience, "the stream's close logged");
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));
        var output = process.Stdout + process.Stderr;
        // The refusals were logged (at debug), with the path and without the query.
        Assert.True(output.Contains("[302]", StringComparison.Ordinal) || output.Contains("\"EventId\":302", StringComparison.Ordinal), output);
        foreach (var token in new[] { valid, expired, forbidden })
        {
            // Any part of a token: its header is the same for every HS256 token, so the signature and payload are what matter.
            Assert.DoesNotContain(token.Split('.')[1], output, StringComparison.Ordinal);
            Assert.DoesNotContain(token.Split('.')[2], output, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(valid[..20], output, StringComparison.Ordinal);
        Assert.DoesNotContain(TestTokens.Secret, output, StringComparison.Ordinal);
        Assert.Contains("Subscriber tokens required", output, StringComparison.Ordinal);
    }
}
