using Eventsourced.Authorization;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.WebSockets;

/// <summary>
/// The WebSocket endpoint (<c>ws.path</c>): subscribes exactly as the SSE endpoint does (<see cref="SubscriptionGate"/>:
/// the same queue name, token, origin check and refusals, all answered before the upgrade), then serves the subscription as JSON text frames (<see cref="WebSocketSession"/>). <c>?acks=client</c> makes
/// the client acknowledge each message itself.
/// </summary>
internal sealed class WebSocketEndpoint(
    SubscriptionGate gate,
    QueueTarget queues,
    TopicTarget topics,
    SubscriptionSettings settings,
    GatewayMetrics metrics,
    WebSocketPublisher publisher,
    PublishRateLimits publishRates,
    SubscriberPermissions permissions,
    IOptions<WebSocketTransportOptions> options,
    ILogger<WebSocketEndpoint> logger)
{
    /// <summary>The query parameter that chooses who acknowledges: <c>client</c> or <c>auto</c> (the default).</summary>
    public const string AcksParameter = "acks";

    private readonly WebSocketFormat _topicFormat = new(topicOffsets: true);
    private readonly WebSocketSessionOptions _session = new(options.Value, settings);

    /// <summary>The WebSocket version ASP.NET Core accepts (RFC 6455's).</summary>
    private const string SupportedVersion = "13";

    /// <summary>
    /// Why a request that ASP.NET Core does not take for a WebSocket handshake is refused: <c>426</c> without an
    /// <c>Upgrade: websocket</c> (a plain GET) or with a <c>Sec-WebSocket-Version</c> other than 13; <c>400</c> for an
    /// upgrade that is malformed otherwise (a body, no <c>Connection: Upgrade</c>, no valid <c>Sec-WebSocket-Key</c>), which
    /// no other version would mend.
    /// </summary>
    internal static (int Status, string Reason) UpgradeRefusal(HttpRequest request)
    {
        if (!Sse.SseEndpoint.IsWebSocketUpgrade(request))
        {
            return (StatusCodes.Status426UpgradeRequired, "expected a WebSocket upgrade");
        }

        var version = request.Headers.SecWebSocketVersion.ToString();
        if (version != SupportedVersion)
        {
            var given = version.Length == 0 ? "no Sec-WebSocket-Version" : $"Sec-WebSocket-Version '{(version.Length > 20 ? version[..20] + "..." : version)}'";
            return (StatusCodes.Status426UpgradeRequired, $"unsupported WebSocket version ({given}): this endpoint speaks version {SupportedVersion}");
        }

        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            // Kestrel does not offer an upgrade for a request with a body; the headers may be right in every other way.
            return (StatusCodes.Status400BadRequest, "invalid WebSocket upgrade: it must not have a body (Content-Length or Transfer-Encoding)");
        }

        return (StatusCodes.Status400BadRequest, "invalid WebSocket upgrade: it needs Connection: Upgrade and a Sec-WebSocket-Key of 16 bytes in base64");
    }

    /// <summary>A WebSocket on the client's own queue (<c>ws.path</c>).</summary>
    public Task HandleAsync(HttpContext context) => HandleAsync(context, queues, WebSocketFormat.ForQueueConnection());

    /// <summary>A WebSocket on a topic (<c>ws.path</c> + <c>topics.path</c> + NAME), resuming after <c>?lastEventId=</c>.</summary>
    public Task HandleTopicAsync(HttpContext context) => HandleAsync(context, topics, _topicFormat);

    private async Task HandleAsync(HttpContext context, ISubscriptionTarget target, WebSocketFormat format)
    {
        if (!await gate.AcceptAsync(context))
        {
            return;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            var (status, why) = UpgradeRefusal(context.Request);
            if (status == StatusCodes.Status426UpgradeRequired)
            {
                if (!HttpProtocol.IsHttp2(context.Request.Protocol))
                {
                    // HTTP/2 has no Upgrade header (a connection-specific one, RFC 9113 section 8.2.2).
                    context.Response.Headers.Upgrade = "websocket";
                }

                // RFC 6455 section 4.4: a version the server does not speak is answered with the versions it does.
                context.Response.Headers.SecWebSocketVersion = SupportedVersion;
            }

            await gate.RefuseAsync(context, status, StreamOutcomes.BadRequest, why);
            return;
        }

        if (context.WebSockets.WebSocketRequestedProtocols.Count > 0)
        {
            // The gateway speaks no subprotocol, and a client that asked for one fails the connection when the answer
            // names none (browsers do, as .NET's ClientWebSocket does): after the upgrade, what the gateway had sent by
            // then was acknowledged by the client's TCP, and lost.
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, "WebSocket subprotocols (Sec-WebSocket-Protocol) are not spoken here: open the WebSocket without any");
            return;
        }

        var acks = context.Request.Query[AcksParameter];
        if (acks.Count > 1 || (acks.Count == 1 && acks[0] is not ("client" or "auto")))
        {
            var reason = acks.Count > 1 ? "query parameter 'acks' given more than once" : "query parameter 'acks' must be 'client' or 'auto'";
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, reason);
            return;
        }

        var clientAcks = acks.Count == 1 && acks[0] == "client";
        if (clientAcks && target == topics)
        {
            // A stream keeps every event: a topic's subscriber resumes from its last id instead of acknowledging.
            await gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, "acks=client is for queues: a topic's subscriber resumes with lastEventId");
            return;
        }

        await gate.HandleAsync(context, target, format, subscription =>
            new WebSocketSession(context, subscription, clientAcks, format, _session, settings, metrics, publisher, publishRates, permissions, logger));
    }
}
