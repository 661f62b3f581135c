using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Limits;
using Eventsourced.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// Opening as many idle TCP connections as the gateway's open-file limit used to make it abort (Kestrel's accept
/// loop spinning on EMFILE, then "Out of memory" or an internal CLR error). The connections are now capped below
/// the limit: the excess is closed as it comes, streams go on, and new clients are served once the flood ends.
/// The published gateway runs with a low limit (prlimit) rather than exhausting the machine's.
/// </summary>
[Collection(BrokerLoadCollection.Name)]
public sealed class ConnectionFloodTests(BrokerFixture broker)
{
    private const int FileLimit = 1024;
    private const int Flood = 1500;
    private const int Burst = 50;

    /// <summary>Descriptors beyond those at start and the cap's connections the gateway may open during the flood (a broker channel, a log file, the one connection being closed).</summary>
    private const int PileAllowance = 32;

    [Fact]
    public async Task IdleConnectionsPastTheOpenFileLimit_AreRefused_AndTheGatewayKeepsServing() =>
        Assert.Contains("Accepting at most", await FloodAsync(maxConnections: null), StringComparison.Ordinal);

    /// <summary>
    /// A <c>limits.max_connections</c> above what the open-file limit allows (a configuration written for hosts with a
    /// higher <c>LimitNOFILE</c>, run in a container with 1024) let the accept loop run out of descriptors: the gateway
    /// aborted ("Out of memory", SIGABRT) with every stream open. The cap is lowered to what the limit allows, with a
    /// warning (event 119) that names both and the limit needed.
    /// </summary>
    [Fact]
    public async Task MaxConnectionsAboveTheOpenFileLimit_IsLoweredWithAWarning_AndTheGatewayKeepsServing()
    {
        var stdout = await FloodAsync(maxConnections: 3000);
        var warning = Assert.Single(stdout.Split('\n'), l => l.Contains("[119]", StringComparison.Ordinal));
        Assert.Contains("limits.max_connections 3000 is more than the open-file limit 1024", warning, StringComparison.Ordinal);
        Assert.Contains("raise the open-file limit", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("Accepting at most 3000", stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// An open-file limit such as 256 leaves room for one client connection after the reserve: the gateway said so in
    /// an information line only, and an operator found out from clients closed at once. It is a warning (event 120)
    /// that names the limit to set; the one connection is still served.
    /// </summary>
    [Fact]
    public async Task AnOpenFileLimitWithRoomForFewConnections_IsAWarningNamingTheLimitToSet()
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.StartWithFileLimit(256, new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        var warning = Assert.Single(process.Stdout.Split('\n'), l => l.Contains("[120]", StringComparison.Ordinal));
        Assert.Contains("warn", warning, StringComparison.Ordinal);
        var match = Regex.Match(warning, "The open-file limit 256 leaves room for ([0-9]+) client connections only .* raise it \\(LimitNOFILE=, ulimit -n\\) to at least ([0-9]+) for 1000");
        Assert.True(match.Success, warning);
        Assert.True(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < ConnectionCap.FewConnections, warning);
        Assert.True(int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 1000, warning);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }

    /// <summary>The usual container limit (1024) leaves room for hundreds: no warning.</summary>
    [Fact]
    public async Task AnOpenFileLimitOf1024_IsNoWarning()
    {
        var port = FreePort.Next();
        await using var process = GatewayProcess.StartWithFileLimit(FileLimit, new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
        });
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        Assert.Contains("Accepting at most", process.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("[120]", process.Stdout, StringComparison.Ordinal);
    }

    private async Task<string> FloodAsync(int? maxConnections)
    {
        var port = FreePort.Next();
        var queue = broker.UniqueQueueName("flooded");
        var environment = new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_SERVER__HEARTBEAT"] = "1",
        };
        if (maxConnections is { } configured)
        {
            environment["EVENTSOURCED_LIMITS__MAX_CONNECTIONS"] = configured.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await using var process = GatewayProcess.StartWithFileLimit(FileLimit, environment);
        using var client = await process.ListeningClientAsync(port, TimeSpan.FromSeconds(30));
        await using var amqp = await broker.ConnectAsync(nameof(ConnectionFloodTests));
        await using var stream = await SseClient.OpenAsync(client, $"/?id={queue}", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, stream.Status);

        var atStart = OpenDescriptors(process.Id);
        var cap = int.Parse(
            Regex.Match(process.Stdout, "Accepting at most ([0-9]+) client connections").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var peak = atStart;
        var idle = new List<Socket>();
        var rejected = 0;
        try
        {
            // In bursts, as a client flooding the gateway connects: faster than one connection at a time.
            for (var burst = 0; burst < Flood / Burst; burst++)
            {
                var sockets = Enumerable.Range(0, Burst).Select(_ => new Socket(SocketType.Stream, ProtocolType.Tcp)).ToList();
                var connects = sockets.Select(s => s.ConnectAsync(IPAddress.Loopback, port)).ToList();
                try
                {
                    await Task.WhenAll(connects);
                }
                catch (SocketException)
                {
                    // the backlog is full: refused too
                }

                for (var i = 0; i < Burst; i++)
                {
                    if (connects[i].IsCompletedSuccessfully)
                    {
                        idle.Add(sockets[i]);
                    }
                    else
                    {
                        sockets[i].Dispose();
                    }
                }

                Assert.False(process.HasExited, $"gateway exited during the flood:\n{process.Stdout}\n{process.Stderr}");
                peak = Math.Max(peak, OpenDescriptors(process.Id));
            }

            // The connections waiting to be closed at the cap never piled up towards the open-file limit: accepted
            // faster than the thread pool closed them, they ran the process out of descriptors and it aborted.
            Assert.True(peak <= atStart + cap + PileAllowance, $"{peak} descriptors open at the peak: {atStart} at start, a cap of {cap}");

            // The stream carries on through the flood, and the process is still there.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.False(process.HasExited, $"gateway exited:\n{process.Stdout}\n{process.Stderr}");
            await amqp.PublishAsync(queue, "during the flood");
            Assert.Equal(["during the flood"], await stream.ReadEventsAsync(1, TimeSpan.FromSeconds(20)));

            // The excess was closed by the gateway, not left hanging on a descriptor it does not have.
            var closed = 0;
            foreach (var socket in idle)
            {
                if (socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0)
                {
                    closed++;
                }
            }

            Assert.True(closed >= idle.Count - FileLimit, $"only {closed} of {idle.Count} idle connections were closed by the gateway");
            rejected = closed;
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }

        // Once the flood is gone, new clients are served.
        await Wait.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync("/healthz");
                return response.StatusCode == HttpStatusCode.OK;
            },
            TimeSpan.FromSeconds(30),
            "served again after the flood");
        Assert.False(process.HasExited, $"gateway exited:\n{process.Stdout}\n{process.Stderr}");

        // A scrape counts what was closed at the cap (the log's digest is not the only record).
        var scrape = await client.GetStringAsync("/metrics");
        var line = Assert.Single(scrape.Split('\n'), l => l.StartsWith("eventsourced_connections_rejected_total{listener=\"server\"}", StringComparison.Ordinal));
        var counted = double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(counted >= rejected, $"{line}: {rejected} connections were closed at the cap");
        return process.Stdout;
    }

    /// <summary>Descriptors the process has open now.</summary>
    private static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    /// <summary>
    /// Kestrel wrote a warning for every connection it closed at the cap: a client holding the connections the cap
    /// allows wrote a log line per connection it opened, as fast as it opened them. The first is logged (event 111),
    /// the rest counted once per 10 s (event 112), and Kestrel's own lines are filtered out.
    /// </summary>
    [Fact]
    public async Task ConnectionsClosedAtTheCap_AreLoggedOnce_NotOncePerConnection()
    {
        const int Cap = 3;
        const int Rejected = 40;
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.MaxConnections = Cap, log);
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < Cap + Rejected; i++)
            {
                if (i == Cap)
                {
                    // Kestrel checks the cap on the thread pool, one work item per accepted connection, in no set
                    // order: let the first Cap be counted before the rest come, or one of those could take a seat.
                    await Task.Delay(TimeSpan.FromMilliseconds(500));
                }

                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
                if (i >= Cap)
                {
                    // Closed by the gateway: reads end (0 bytes) or fail with a reset.
                    var buffer = new byte[1];
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    try
                    {
                        Assert.Equal(0, await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token));
                    }
                    catch (SocketException)
                    {
                    }
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            var entries = log.Entries;
            Assert.DoesNotContain(entries, e => e.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) && e.Level == LogLevel.Warning);
            var rejected = Assert.Single(entries, e => e.EventId == 111);
            Assert.Contains("limits.max_connections", rejected.Message, StringComparison.Ordinal);
            await Wait.UntilAsync(
                () => Task.FromResult(log.Entries.Any(e => e.EventId == 112 && e.Message.Contains($" {Rejected - 1} more times", StringComparison.Ordinal))),
                TimeSpan.FromSeconds(20),
                "the rest counted in one line");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }
    /// <summary>
    /// <c>limits.max_connections</c> holds for <c>server.address</c>: at the cap, it closes a health probe's
    /// connection like any other (a liveness probe there fails while the gateway is full), while <c>metrics.address</c>,
    /// with a cap of its own, still answers its probes (README, "Limits against abuse").
    /// </summary>
    [Fact]
    public async Task AtTheCap_ProbesOnServerAddressAreClosed_MetricsAddressStillAnswersThem()
    {
        const int Cap = 2;
        var metricsPort = FreePort.Next();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxConnections = Cap;
            o.Metrics.Address = $"127.0.0.1:{metricsPort}";
        });
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < Cap; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));

            Assert.Null(await ProbeAsync(gateway.Port, "/healthz"));
            Assert.StartsWith("HTTP/1.1 200", await ProbeAsync(metricsPort, "/healthz"), StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 200", await ProbeAsync(metricsPort, "/readyz"), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// Connections that never send a byte are closed after <c>limits.request_headers_timeout</c>, not after Kestrel's 130 s
    /// keep-alive: a client holding the cap with silent connections locked everyone else out for two minutes at a time.
    /// </summary>
    [Fact]
    public async Task SilentConnectionsAtTheCap_AreClosedAfterTheHeadersTimeout_AndOthersAreServedAgain()
    {
        const int Cap = 4;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxConnections = Cap;
            // Long enough that connecting and probing end before the first connection's timeout on a loaded machine.
            o.Limits.RequestHeadersTimeoutSeconds = 6;
        });
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < Cap; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                silent.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.Null(await ProbeAsync(gateway.Port, "/healthz"));

            foreach (var socket in silent)
            {
                Assert.True(await ClosedByGatewayAsync(socket, TimeSpan.FromSeconds(12)), "a silent connection was still open 12 s after it connected (headers timeout 6 s)");
            }

            // The gate counts a connection until its socket is closed, a moment after the client saw it close.
            await Wait.UntilAsync(
                async () => (await ProbeAsync(gateway.Port, "/healthz"))?.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(5),
                "served again once the silent connections were closed");
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// Connections that send one request and then nothing are closed after <c>limits.request_headers_timeout</c> too, not
    /// after Kestrel's 130 s keep-alive: a client holding the cap with one <c>GET /healthz</c> per connection locked
    /// everyone else out for two minutes at a time, as silent ones did before their first byte was timed.
    /// </summary>
    [Fact]
    public async Task IdleKeptAliveConnectionsAtTheCap_AreClosedAfterTheHeadersTimeout_AndOthersAreServedAgain()
    {
        const int Cap = 4;
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxConnections = Cap;
            // Long enough that opening the four connections and probing (a second or more on a loaded CI machine) ends well
            // before the first idle connection's timeout: at 2 s the first was sometimes already closed, and the probe served.
            o.Limits.RequestHeadersTimeoutSeconds = 6;
        });
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < Cap; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                idle.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
                await socket.SendAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), SocketFlags.None);
                var buffer = new byte[1024];
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            }

            Assert.Null(await ProbeAsync(gateway.Port, "/healthz"));

            foreach (var socket in idle)
            {
                Assert.True(await ClosedByGatewayAsync(socket, TimeSpan.FromSeconds(12)), "a kept-alive idle connection was still open 12 s after it went idle (headers timeout 6 s)");
            }

            await Wait.UntilAsync(
                async () => (await ProbeAsync(gateway.Port, "/healthz"))?.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(5),
                "served again once the idle connections were closed");
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// A client that connects and resets the connection (RST) before its first byte: the wait for that byte failed with
    /// Kestrel's <c>ConnectionResetException</c>, which left the connection middleware and was logged as an error, with
    /// its stack trace, per connection ("Unhandled exception while processing"): any client could write error lines as
    /// fast as it connected. A reset is a connection that sent nothing.
    /// </summary>
    [Fact]
    public async Task ConnectionsResetBeforeTheirFirstByte_LogNoError()
    {
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.RequestHeadersTimeoutSeconds = 5, log);
        for (var i = 0; i < 20; i++)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, gateway.Port);
            await Task.Delay(TimeSpan.FromMilliseconds(20));
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }

        Assert.StartsWith("HTTP/1.1 200", await RawHttp.SlowHealthCheckAsync(gateway.Port), StringComparison.Ordinal);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
    }

    /// <summary>A request whose head arrives in pieces, slowly but within the headers timeout, is answered whole.</summary>
    [Fact]
    public async Task ARequestSentInPiecesWithinTheHeadersTimeout_IsAnswered()
    {
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o => o.Limits.RequestHeadersTimeoutSeconds = 5);
        Assert.StartsWith("HTTP/1.1 200", await RawHttp.SlowHealthCheckAsync(gateway.Port), StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>limits.max_connections</c> holds for the clients' listener as a whole: <c>localhost</c> binds 127.0.0.1 and ::1,
    /// and Kestrel's cap, counted per bound address, let each hold the cap (twice the cap in all).
    /// </summary>
    [Fact]
    public async Task ListenerOnTwoAddresses_HoldsTheCapInAll_NotPerAddress()
    {
        const int Cap = 2;
        var port = FreePort.Next();
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxConnections = Cap;
            o.Server.Address = $"localhost:{port}";
        }, log);
        var held = new List<Socket>();
        try
        {
            foreach (var address in new[] { IPAddress.Loopback, IPAddress.Loopback })
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(address, port);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            foreach (var address in new[] { IPAddress.IPv6Loopback, IPAddress.IPv6Loopback })
            {
                var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(address, port);
                Assert.True(await ClosedByGatewayAsync(socket), $"a connection to [::1] past the cap of {Cap} was kept");
            }

            var rejected = Assert.Single(log.Entries, e => e.EventId == 111);
            Assert.Contains("limits.max_connections", rejected.Message, StringComparison.Ordinal);
            // Kestrel's gauge of rejected connections counts none of these (no one address reached the cap); the
            // gateway's counter counts each.
            var metrics = gateway.Services.GetRequiredService<GatewayMetrics>();
            Assert.Equal(2, metrics.ConnectionsRejected(ConnectionListeners.Server));
            Assert.Equal(0, metrics.ConnectionsRejected(ConnectionListeners.Metrics));
        }
        finally
        {
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// <c>metrics.address</c> has a small cap of its own beside <c>limits.max_connections</c> (it held a whole second
    /// <c>max_connections</c>, twice the descriptors the default cap leaves room for), and is served again once they go.
    /// </summary>
    [Fact]
    public async Task MetricsAddress_HoldsItsOwnSmallCap_NotASecondMaxConnections()
    {
        const int Extra = 6;
        var metricsPort = FreePort.Next();
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Limits.MaxConnections = 1000;
            o.Metrics.Address = $"127.0.0.1:{metricsPort}";
        }, log);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < Eventsourced.Limits.ConnectionCap.ObservabilityConnections; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, metricsPort);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            for (var i = 0; i < Extra; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, metricsPort);
                Assert.True(await ClosedByGatewayAsync(socket), $"metrics.address kept connection {held.Count}");
            }

            // The clients' listener is not affected, and the log names the metrics listener's cap.
            Assert.StartsWith("HTTP/1.1 200", await ProbeAsync(gateway.Port, "/healthz"), StringComparison.Ordinal);
            Assert.Contains("metrics.address", Assert.Single(log.Entries, e => e.EventId == 111).Message, StringComparison.Ordinal);
            var metrics = gateway.Services.GetRequiredService<GatewayMetrics>();
            Assert.Equal(Extra, metrics.ConnectionsRejected(ConnectionListeners.Metrics));
            Assert.Equal(0, metrics.ConnectionsRejected(ConnectionListeners.Server));
        }
        finally
        {
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }

        await Wait.UntilAsync(
            async () => (await ProbeAsync(metricsPort, "/healthz"))?.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(10),
            "metrics.address serves again");
    }

    private static async Task<bool> ClosedByGatewayAsync(Socket socket, TimeSpan? within = null)
    {
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(5));
        try
        {
            // Whatever comes before the end is read past: the rest of an answer the caller read only in part (on a loaded
            // machine a response's head and body can come in two reads, and the body's byte was taken for "still open").
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The status line of a plain HTTP/1.0 GET, or null when the gateway closed the connection without an answer.</summary>
    private static async Task<string?> ProbeAsync(int port, string path)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"), SocketFlags.None, timeout.Token);
            var buffer = new byte[64];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return read == 0 ? null : Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return null;
        }
    }
}
