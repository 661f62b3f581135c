using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A <c>broker.node</c> URL that names the wrong kind of port, or a broker whose TLS certificate is not trusted: the
/// connect failure's log line (event 201) says what the port is and what to do, beyond the client library's message
/// ("connection.start was never received, likely due to a network timeout", "the remote certificate was rejected").
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class BrokerConnectFailureTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task PlainUrl_NamingAnHttpServer_SaysItAnswersButNotAsAnAmqpBroker()
    {
        await using var server = ForeignServer.Start(async (stream, cancellationToken) =>
        {
            await stream.ReadAtLeastAsync(new byte[8], 8, throwOnEndOfStream: false, cancellationToken);
            await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"u8.ToArray(), cancellationToken);
        });

        var line = await FirstConnectFailureAsync($"amqp://guest:guest@127.0.0.1:{server.Port}/");

        Assert.Contains($"127.0.0.1:{server.Port} answers, but not as an AMQP broker (its first bytes: 'HTTP/1.1 400 Bad')", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsUrl_NamingAPlainAmqpPort_SaysTheTlsHandshakeFailed()
    {
        var plain = new Uri(broker.AmqpUrl);

        var line = await FirstConnectFailureAsync($"amqps://guest:guest@127.0.0.1:{plain.Port}/");

        Assert.Contains($"the TLS handshake failed: is 127.0.0.1:{plain.Port} RabbitMQ's TLS port", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsUrl_BrokerCertificateNotTrusted_SaysWhy()
    {
        using var certificate = TestCertificate.Create("localhost");
        await using var server = ForeignServer.Start(async (stream, cancellationToken) =>
        {
            await using var tls = new SslStream(stream);
            await tls.AuthenticateAsServerAsync(certificate.Certificate);
            await tls.ReadAtLeastAsync(new byte[8], 8, throwOnEndOfStream: false, cancellationToken);
        });

        var line = await FirstConnectFailureAsync($"amqps://guest:guest@127.0.0.1:{server.Port}/");

        Assert.Contains("the broker's TLS certificate is refused", line, StringComparison.Ordinal);
        Assert.Contains("its chain is not trusted here", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainUrl_NamingATlsPort_SaysToWriteAmqps()
    {
        using var certificate = TestCertificate.Create("localhost");
        await using var server = ForeignServer.Start(async (stream, _) =>
        {
            await using var tls = new SslStream(stream);
            await tls.AuthenticateAsServerAsync(certificate.Certificate);
        });

        var line = await FirstConnectFailureAsync($"amqp://guest:guest@127.0.0.1:{server.Port}/");

        Assert.Contains($"127.0.0.1:{server.Port}", line, StringComparison.Ordinal);
        Assert.Contains("write amqps://", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPassword_SaysTheBrokerRefusedTheLogin_WithoutThePassword()
    {
        // The client library's own words were "None of the specified endpoints were reachable", of a node that answered.
        var plain = new Uri(broker.AmqpUrl);

        var line = await FirstConnectFailureAsync($"amqp://guest:Wrong-Secret-7@127.0.0.1:{plain.Port}/");

        // The connection is named as the broker lists it (the queue subscribers' first; topics' are "... streams #N").
        Assert.Matches($"^Cannot connect to broker 127\\.0\\.0\\.1:{plain.Port} as \"eventsourced [^\"]+ #1\": 127\\.0\\.0\\.1:{plain.Port} refused the login of user 'guest' \\(ACCESS_REFUSED", line);
        Assert.Contains("check the user and password of this broker.node entry", line, StringComparison.Ordinal);
        Assert.DoesNotContain("reachable", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Wrong-Secret-7", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainUrl_NothingListens_SaysTheConnectionWasRefused()
    {
        // A node that is down, or whose listeners are suspended (rabbitmqctl suspend_listeners): the line said only
        // "None of the specified endpoints were reachable (... (Connection failed, host 127.0.0.1:P))", the same words as
        // for a timeout or a name that does not resolve.
        var port = FreePort.Next();

        var line = await FirstConnectFailureAsync($"amqp://guest:guest@127.0.0.1:{port}/");

        Assert.Contains($"nothing accepts connections on 127.0.0.1:{port} (connection refused", line, StringComparison.Ordinal);
    }

    private static async Task<string> FirstConnectFailureAsync(string url)
    {
        var log = new CollectedLog();
        await using var gateway = await GatewayServer.StartAsync(url, null, log);
        await Wait.UntilAsync(() => log.Entries.Any(e => e.EventId == 201), Timeout, "a connect failure logged (event 201)");
        return log.Entries.First(e => e.EventId == 201).Message;
    }

    /// <summary>A TCP server on 127.0.0.1 that runs <c>serve</c> for each connection, then closes it.</summary>
    private sealed class ForeignServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private Task _accepting = Task.CompletedTask;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static ForeignServer Start(Func<NetworkStream, CancellationToken, Task> serve)
        {
            var server = new ForeignServer();
            server._listener.Start();
            server._accepting = server.AcceptAsync(serve);
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _accepting;
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }

        private async Task AcceptAsync(Func<NetworkStream, CancellationToken, Task> serve)
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using (socket)
                    {
                        await using var stream = new NetworkStream(socket, ownsSocket: false);
                        try
                        {
                            await serve(stream, _stop.Token).WaitAsync(TimeSpan.FromSeconds(5));
                        }
                        catch (Exception ex) when (ex is IOException or TimeoutException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
                        {
                            // The gateway gave up on the handshake, or spoke what this server does not.
                        }
                    }
                });
            }
        }
    }
}
