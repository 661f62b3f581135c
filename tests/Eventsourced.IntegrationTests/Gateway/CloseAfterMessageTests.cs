using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A client that closes its stream as soon as a message has come (an EventSource closed in <c>onmessage</c>, a page
/// navigating away): its TCP acknowledged the message's bytes, in the very segment that carried its FIN, so the gateway
/// acknowledges the message to the broker and the client does not get it again on its next stream. It did, nearly every
/// time over TLS and now and then over plain HTTP: the socket was disposed as soon as Kestrel saw the FIN, before the
/// gateway read the count, and an acknowledgement under way was cancelled with the stream.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class CloseAfterMessageTests(BrokerFixture broker) : IDisposable
{
    private const int Rounds = 12;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-close-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientClosingRightAfterItsMessage_GetsEachMessageOnce_AndTheQueueIsEmptied(bool tls)
    {
        using var certificate = TestCertificate.Create();
        var (certificatePath, keyPath) = certificate.WriteTo(_directory.FullName);
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            if (tls)
            {
                o.Server.Tls = new(StringComparer.OrdinalIgnoreCase) { ["certificate"] = certificatePath, ["key"] = keyPath };
            }
        });
        var queue = broker.UniqueQueueName(nameof(ClientClosingRightAfterItsMessage_GetsEachMessageOnce_AndTheQueueIsEmptied));
        await using var amqp = await broker.ConnectAsync(nameof(CloseAfterMessageTests));
        // The first stream declares the queue; nothing is in it yet.
        Assert.Null(await ReadFirstMessageAndCloseAsync(gateway.Port, queue, tls, untilMessage: false));

        var firsts = new List<string?>();
        for (var round = 0; round < Rounds; round++)
        {
            await amqp.PublishAsync(queue, $"m{round}");
            firsts.Add(await ReadFirstMessageAndCloseAsync(gateway.Port, queue, tls, untilMessage: true));
        }

        // A stream that got a message again would open with the older one.
        Assert.Equal(Enumerable.Range(0, Rounds).Select(i => $"m{i}"), firsts);
        await Wait.UntilAsync(async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0 }, Patience, "every message acknowledged");
    }

    /// <summary>
    /// Opens a stream over HTTP/1.1 with a socket of its own, reads until the first message's event has come whole (or, without
    /// <paramref name="untilMessage"/>, the answer's head), reads whatever else has come, and closes the socket, as a browser
    /// does: a FIN, no reset. Returns the first message's data.
    /// </summary>
    private static async Task<string?> ReadFirstMessageAndCloseAsync(int port, string queue, bool tls, bool untilMessage)
    {
        using var timeout = new CancellationTokenSource(Patience);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        Stream stream = tcp.GetStream();
        if (tls)
        {
            var secured = new SslStream(stream);
            await secured.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                },
                timeout.Token);
            stream = secured;
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /?id={queue} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"), timeout.Token);
        var text = new StringBuilder();
        var buffer = new byte[16384];
        while (!Complete(text.ToString(), untilMessage))
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            Assert.True(read > 0, $"the gateway closed the stream: {text}");
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        while (tcp.Available > 0)
        {
            text.Append(Encoding.UTF8.GetString(buffer, 0, await stream.ReadAsync(buffer, timeout.Token)));
        }

        tcp.Client.Close();
        var answer = text.ToString();
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        var data = answer.IndexOf("data: ", StringComparison.Ordinal);
        return data < 0 ? null : answer[(data + "data: ".Length)..answer.IndexOf('\n', data)];
    }

    /// <summary>The answer's head has come, and with <paramref name="untilMessage"/> a message's event up to its chunk's end.</summary>
    private static bool Complete(string text, bool untilMessage) =>
        untilMessage
            ? text.Contains("data: ", StringComparison.Ordinal) && text.EndsWith("\n\n\r\n", StringComparison.Ordinal)
            : text.Contains("\r\n\r\n", StringComparison.Ordinal);
}
