using Eventsourced.Hosting;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Limits;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Eventsourced.LongPolling;

/// <summary>
/// The long-poll endpoint (<c>poll.path</c>): <c>GET</c> subscribes exactly as the SSE endpoint does
/// (<see cref="SubscriptionGate"/>: the same queue name, CORS and refusals) and answers a JSON array of
/// messages (<see cref="PollSession"/>). The subscription outlives the request in a
/// <see cref="SubscriptionHold"/> for <c>poll.hold</c> seconds, with the answered batch unacknowledged until a
/// poll names its last id in <c>?ack=</c>.
/// </summary>
internal sealed class PollEndpoint
{
    /// <summary>The query parameter that acknowledges the previous answer: its last message's id.</summary>
    public const string AckParameter = "ack";

    /// <summary>The query parameter with which a poll asks for at most that many messages (no more than <c>poll.max_messages</c>).</summary>
    public const string MaxParameter = "max";

    private readonly SubscriptionGate _gate;
    private readonly SubscriptionSettings _settings;
    private readonly GatewayMetrics _metrics;
    private readonly PollTarget _target;
    private readonly PollSessionOptions _options;
    private readonly WebSocketTransportOptions _webSockets;
    private readonly QueueTarget _queues;

    private readonly MappedEndpoints _mapped;

    public PollEndpoint(
        SubscriptionGate gate,
        QueueTarget queues,
        SubscriptionSettings settings,
        GatewayMetrics metrics,
        IOptions<LongPollingOptions> options,
        IOptions<LimitsOptions> limits,
        ClientStreams clients,
        IOptions<WebSocketTransportOptions> webSockets,
        MappedEndpoints mapped)
    {
        _gate = gate;
        _settings = settings;
        _metrics = metrics;
        _target = new PollTarget(queues, metrics);
        _options = new PollSessionOptions(options.Value);
        _webSockets = webSockets.Value;
        _queues = queues;
        _mapped = mapped;
        // A subscription held between polls is an open stream: limits.streams_per_client caps them per client too.
        Hold = new SubscriptionHold(TimeSpan.FromSeconds(options.Value.HoldSeconds), settings.Time, settings.Stopping, limits.Value.StreamsPerClient, queues.BusyGrace, clients);
    }

    /// <summary>The subscriptions held between polls.</summary>
    public SubscriptionHold Hold { get; }

    public async Task HandleAsync(HttpContext context)
    {
        if (!await _gate.AcceptAsync(context))
        {
            return;
        }

        if (SseEndpoint.IsWebSocketUpgrade(context.Request))
        {
            // Answered as a poll, the queue would be held for poll.hold: the client's WebSocket at the right path gets 503 meanwhile.
            await _gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, SseEndpoint.NotAWebSocketEndpoint(context, "long-polls", _webSockets, _mapped));
            return;
        }

        var acks = context.Request.Query[AckParameter];
        if (acks.Count > 1)
        {
            // Which one the client meant cannot be known: taking the first acknowledged one answer and answered the
            // other again, or the other way round, depending on the order the client wrote them in.
            await _gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, "query parameter 'ack' given more than once");
            return;
        }

        if (AcksParameter.Refused(context.Request, autoTaken: false, readByPattern: _queues.ReadsQueryParameter(WebSocketEndpoint.AcksParameter)))
        {
            // Ignored, an acks=ID meant as the ack got the same answer again on every poll, and acks=client promised nothing:
            // every answer is the client's to acknowledge.
            await _gate.RefuseAsync(
                context,
                StatusCodes.Status400BadRequest,
                StreamOutcomes.BadRequest,
                $"query parameter 'acks' is for WebSockets: a long-poll's answer is always acknowledged by the client, with the next poll naming its last id in '{AckParameter}' ({context.Request.PathBase}{context.Request.Path}?...&{AckParameter}=ID)");
            return;
        }

        if (!TryMaxMessages(context.Request.Query[MaxParameter], _options.MaxMessages, out var max, out var maxProblem))
        {
            await _gate.RefuseAsync(context, StatusCodes.Status400BadRequest, StreamOutcomes.BadRequest, maxProblem);
            return;
        }

        var ack = acks.Count > 0 && !string.IsNullOrEmpty(acks[0]) ? acks[0] : null;
        if (ack is not null && !PollFormat.IsId(ack))
        {
            // No answer ever had this id (a message_id, a number, a typo): ignored, the client would get the same answer
            // again for ever, and never learn why. An id of an ended subscription (before a restart) is well formed and
            // goes on being ignored: the client cannot know that its subscription ended.
            var shown = StatusReason.AsHeaderValue(ack.Length <= 40 ? ack : ack[..40] + "...");
            await _gate.RefuseAsync(
                context,
                StatusCodes.Status400BadRequest,
                StreamOutcomes.BadRequest,
                $"query parameter 'ack' must be the \"id\" of the last message of the previous answer (such as 9f2c41a07b3e-2), not its message_id; got '{shown}'");
            return;
        }

        await _gate.HandleAsync(
            context,
            _target,
            new PollFormat(),
            subscription => new PollSession(context, (PollSubscription)subscription, ack, max, _options, _settings, _metrics),
            Hold);
    }

    /// <summary>
    /// The messages one answer may hold: <c>?max=</c> (a whole number from 1; more than <paramref name="configured"/> is
    /// <paramref name="configured"/>), or <paramref name="configured"/> (<c>poll.max_messages</c>) without it.
    /// </summary>
    internal static bool TryMaxMessages(Microsoft.Extensions.Primitives.StringValues values, int configured, out int max, out string problem)
    {
        max = configured;
        problem = "";
        if (values.Count == 0)
        {
            return true;
        }

        if (values.Count > 1)
        {
            problem = $"query parameter '{MaxParameter}' given more than once";
            return false;
        }

        var text = values[0] ?? "";
        var digits = text.TrimStart('0');
        if (text.Length == 0 || !text.All(char.IsAsciiDigit) || digits.Length == 0)
        {
            problem = $"query parameter '{MaxParameter}' must be a whole number from 1 (at most poll.max_messages, {configured}, are answered)";
            return false;
        }

        // More digits than an int holds ask for as many as there are, like any number past poll.max_messages.
        max = digits.Length > 9 ? configured : Math.Min(int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture), configured);
        return true;
    }
}

/// <summary>The <c>poll</c> section, prepared once.</summary>
internal sealed class PollSessionOptions(LongPollingOptions options)
{
    public TimeSpan Wait { get; } = TimeSpan.FromSeconds(options.WaitSeconds);

    public int MaxMessages { get; } = options.MaxMessages;

    /// <summary><c>poll.ack_timeout</c>.</summary>
    public TimeSpan AckTimeout { get; } = TimeSpan.FromSeconds(options.AckTimeoutSeconds);
}
