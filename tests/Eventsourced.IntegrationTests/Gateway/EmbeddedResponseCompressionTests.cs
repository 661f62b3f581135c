using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// An application embedding the gateway whose pipeline has <c>UseResponseCompression</c> with <c>text/event-stream</c>
/// among its types and <c>EnableForHttps</c>, serving HTTPS with HTTP/2 and the gateway's acknowledgements
/// (<c>UseEventsourcedHttp2</c>). An HTTP/2 stream's message is acknowledged once the client's TCP has the stream's
/// body up to its end; the gateway counted the bytes it wrote (before compression) against the bytes the frames
/// carried (after it): a compressible message was never acknowledged while the stream lived, and came again after it.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedResponseCompressionTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private AmqpTestClient _amqp = null!;

    public async Task InitializeAsync() => _amqp = await broker.ConnectAsync(nameof(EmbeddedResponseCompressionTests));

    public async Task DisposeAsync() => await _amqp.DisposeAsync();

    [Fact]
    public async Task Http2StreamOverHttps_IsNotCompressed_ItsMessageIsAcknowledgedWhileItLives()
    {
        var queue = broker.UniqueQueueName(nameof(EmbeddedResponseCompressionTests));
        await _amqp.DeclareQueueAsync(queue, expiresSeconds: 1800, durable: true);
        using var certificate = TestCertificate.Create();
        var port = FreePort.Next();
        await using var app = await EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [],
            builder =>
            {
                builder.WebHost.ConfigureKestrel(kestrel =>
                {
                    kestrel.UseEventsourcedConnections(TimeSpan.FromSeconds(30));
                    kestrel.Listen(IPAddress.Loopback, port, listen =>
                    {
                        listen.Protocols = HttpProtocols.Http1AndHttp2;
                        listen.UseHttps(certificate.Certificate);
                        listen.UseEventsourcedHttp2();
                    });
                });
                builder.Services.AddResponseCompression(compression =>
                {
                    compression.EnableForHttps = true;
                    compression.MimeTypes = ResponseCompressionDefaults.MimeTypes.Append("text/event-stream");
                });
            },
            app =>
            {
                app.UseResponseCompression();
                app.MapGet("/page", () => new string('x', 4096));
                app.MapEventsourced("/events");
            });
        // Decompresses what comes compressed (and asks for it): the stream as a browser reads it.
        using var client = Client(DecompressionMethods.All, port);
        // The application's own responses are compressed as it asked.
        using (var raw = Client(DecompressionMethods.None, port))
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/page") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact })
        {
            request.Headers.AcceptEncoding.ParseAdd("gzip");
            using var page = await raw.SendAsync(request);
            Assert.Contains("gzip", page.Content.Headers.ContentEncoding);
        }

        await using var stream = await SseClient.OpenAsync(
            client,
            $"/events?id={queue}",
            request =>
            {
                request.Version = HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            },
            CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal(HttpVersion.Version20, stream.Response.Version);

        // Compresses to a few dozen bytes.
        var message = new string('a', 30_000);
        await _amqp.PublishAsync(queue, message);
        Assert.Equal([message], await stream.ReadEventsAsync(1, Patience));
        await Wait.UntilAsync(
            async () => await broker.Rabbitmqctl.FindQueueAsync(queue) is { Messages: 0 }, Patience, "the message acknowledged while the stream is open");
        await _amqp.DeleteQueueAsync(queue);
    }

    private static HttpClient Client(DecompressionMethods decompression, int port) => new(new SocketsHttpHandler
    {
        AutomaticDecompression = decompression,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    })
    {
        BaseAddress = new Uri($"https://127.0.0.1:{port}"),
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
