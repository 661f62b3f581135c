using System.Net;
using System.Net.Http.Headers;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// <c>metrics.address</c> and <c>metrics.token</c>: <c>/metrics</c> and <c>/debug/vars</c> need not face the internet.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ObservabilityListenerTests(BrokerFixture broker)
{
    [Fact]
    public async Task OwnListener_ServesMetricsOnlyThere_AndNoStreamThere()
    {
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Metrics.Address = $"127.0.0.1:{metricsPort}");
        using var observability = GatewayServer.NewClient(new Uri($"http://127.0.0.1:{metricsPort}"));

        using (var metrics = await observability.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("eventsourced_streams_total", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await observability.GetAsync("/debug/vars")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await observability.GetAsync("/healthz")).StatusCode);
        using (var stream = new HttpRequestMessage(HttpMethod.Get, $"/?id={broker.UniqueQueueName("obs")}"))
        {
            // Not a page's endpoint: no CORS headers on its 404 (the clients' listener's 404 carries them).
            stream.Headers.Add("Origin", "https://app.example");
            using var unserved = await observability.SendAsync(stream);
            Assert.Equal(HttpStatusCode.NotFound, unserved.StatusCode);
            Assert.Equal("no such endpoint", unserved.Headers.GetValues("X-Status-Reason").Single());
            Assert.DoesNotContain(unserved.Headers, h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase));
        }

        // On the public listener the paths are just other paths of the stream (no id: 400), the probes stay.
        foreach (var path in new[] { "/metrics", "/debug/vars" })
        {
            using var response = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.DoesNotContain("eventsourced_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/healthz")).StatusCode);
        await using var sse = await gateway.SubscribeAsync($"/?id={broker.UniqueQueueName("obs-stream")}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/debug/vars")]
    [InlineData("/nothing-here")]
    public async Task OwnListener_ClosesEachConnectionAfterItsAnswer_SoIdleKeepAlivesCannotHoldItsCap(string path)
    {
        // Its cap is 64 connections: kept alive after an answer (Kestrel keeps an idle one 130 s), 64 of them held by
        // anyone who reaches the address failed the probes there for two minutes at a time.
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Metrics.Address = $"127.0.0.1:{metricsPort}");
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, metricsPort);
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));

        // The answer, then the end of the connection, well within Kestrel's keep-alive.
        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int read;
        while ((read = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        var answer = System.Text.Encoding.ASCII.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 ", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task OwnListener_ConnectionsThatSendNothing_AreClosedAfterTheHeadersTimeout_SoTheyCannotHoldItsCap()
    {
        // Kestrel waits for a connection's first request as long as for a kept-alive one's next (130 s): 64 connections
        // that never sent a byte held the cap, and the probes there failed for two minutes at a time.
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Metrics.Address = $"127.0.0.1:{metricsPort}";
            o.Limits.RequestHeadersTimeoutSeconds = 2;
        });
        var idle = new List<System.Net.Sockets.Socket>();
        try
        {
            for (var i = 0; i < 64; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                idle.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, metricsPort);
            }

            // Each idle connection ends soon after the timeout (not after Kestrel's 130 s).
            var buffer = new byte[16];
            using var closed = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            foreach (var socket in idle)
            {
                try
                {
                    Assert.Equal(0, await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, closed.Token));
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // A reset is an end too.
                }
            }

            // And the probe is answered again.
            using var observability = GatewayServer.NewClient(new Uri($"http://127.0.0.1:{metricsPort}"));
            using var probe = await observability.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task OwnListener_ARequestSentSlowlyButWithinTheHeadersTimeout_IsAnswered()
    {
        // The first bytes wait leaves them unread for Kestrel: a request whose head arrives in pieces is answered whole.
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Metrics.Address = $"127.0.0.1:{metricsPort}";
            o.Limits.RequestHeadersTimeoutSeconds = 5;
        });
        Assert.StartsWith("HTTP/1.1 200 ", await RawHttp.SlowHealthCheckAsync(metricsPort), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/events")]
    public async Task OwnListener_AMethodAnEndpointDoesNotTake_Is405WithAReason_NotA404(string serverPath)
    {
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Server.Path = serverPath;
            o.Metrics.Address = $"127.0.0.1:{metricsPort}";
        });
        using var observability = GatewayServer.NewClient(new Uri($"http://127.0.0.1:{metricsPort}"));

        // With server.path '/', the stream's catch-all was routing's one candidate for DELETE /metrics, and it is not
        // served on metrics.address: no endpoint, so "404 no such endpoint" for a path that is there.
        foreach (var path in new[] { "/metrics", "/debug/vars", "/healthz", "/readyz" })
        {
            foreach (var method in new[] { HttpMethod.Delete, HttpMethod.Post, HttpMethod.Options })
            {
                using var response = await observability.SendAsync(new HttpRequestMessage(method, path));
                Assert.True(response.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {path}: {(int)response.StatusCode}");
                Assert.Equal("method not allowed", response.Headers.GetValues("X-Status-Reason").Single());
                Assert.Contains("GET", response.Content.Headers.Allow);
            }
        }

        using var unserved = await observability.DeleteAsync("/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, unserved.StatusCode);
        Assert.Equal("no such endpoint", unserved.Headers.GetValues("X-Status-Reason").Single());
    }

    [Fact]
    public async Task Token_IsRequiredForMetricsAndDebugVars_NotForTheProbes()
    {
        const string token = "s3cret-scrape-token";
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Metrics.Token = token);

        foreach (var path in new[] { "/metrics", "/debug/vars" })
        {
            using var none = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("bearer token required", none.Headers.GetValues("X-Status-Reason").Single());

            using var wrong = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token + "x") } };
            using var wrongResponse = await gateway.Client.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);
            Assert.DoesNotContain(token, await wrongResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            using var right = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
            using var rightResponse = await gateway.Client.SendAsync(right);
            Assert.Equal(HttpStatusCode.OK, rightResponse.StatusCode);

            // The scheme's name in any case (RFC 9110); the token itself exactly.
            using var lower = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("bearer", token) } };
            using var lowerResponse = await gateway.Client.SendAsync(lower);
            Assert.Equal(HttpStatusCode.OK, lowerResponse.StatusCode);
            using var otherCase = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token.ToUpperInvariant()) } };
            using var otherCaseResponse = await gateway.Client.SendAsync(otherCase);
            Assert.Equal(HttpStatusCode.Unauthorized, otherCaseResponse.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/healthz")).StatusCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Token_AMethodTheEndpointsDoNotTake_Is401WithoutTheToken_405WithIt_TheProbesStay405(bool ownListener)
    {
        // A 405 told a client without the token that the path is served, where any other path of metrics.address is a 404.
        const string token = "s3cret-scrape-token";
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Metrics.Token = token;
            if (ownListener)
            {
                o.Metrics.Address = $"127.0.0.1:{metricsPort}";
            }
        });
        using var client = ownListener ? GatewayServer.NewClient(new Uri($"http://127.0.0.1:{metricsPort}")) : null;
        var observability = client ?? gateway.Client;
        // On the clients' listener, OPTIONS is a CORS preflight on every path (204), as before.
        HttpMethod[] methods = ownListener
            ? [HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options, new HttpMethod("FOO")]
            : [HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, new HttpMethod("FOO")];

        foreach (var method in methods)
        {
            foreach (var path in new[] { "/metrics", "/debug/vars" })
            {
                using var without = await observability.SendAsync(new HttpRequestMessage(method, path));
                Assert.True(without.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} without the token: {(int)without.StatusCode}");
                Assert.Equal("bearer token required", without.Headers.GetValues("X-Status-Reason").Single());
                Assert.Equal("Bearer", without.Headers.WwwAuthenticate.Single().Scheme);
                Assert.Empty(without.Content.Headers.Allow);

                using var wrong = await observability.SendAsync(new HttpRequestMessage(method, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token + "x") } });
                Assert.True(wrong.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with a wrong token: {(int)wrong.StatusCode}");
                Assert.Equal("wrong bearer token", wrong.Headers.GetValues("X-Status-Reason").Single());

                using var with = await observability.SendAsync(new HttpRequestMessage(method, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } });
                Assert.True(with.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {path} with the token: {(int)with.StatusCode}");
                Assert.Equal("method not allowed", with.Headers.GetValues("X-Status-Reason").Single());
                Assert.Contains("GET", with.Content.Headers.Allow);
            }

            foreach (var path in new[] { "/healthz", "/readyz" })
            {
                using var probe = await observability.SendAsync(new HttpRequestMessage(method, path));
                Assert.True(probe.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {path}: {(int)probe.StatusCode}");
            }
        }
    }

    [Fact]
    public async Task Token_IsMaskedByDashC()
    {
        var (exitCode, stdout, _) = await GatewayProcess.RunAsync(new Dictionary<string, string> { ["EVENTSOURCED_METRICS__TOKEN"] = "TopSecretToken1" }, "-c");

        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("TopSecretToken1", stdout, StringComparison.Ordinal);
        Assert.Contains("token: '***'", stdout, StringComparison.Ordinal);
    }
}
