using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Eventsourced.Broker;
using Eventsourced.Logging;
using Eventsourced.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Presence;

/// <summary>
/// Publishes a <c>subscribed</c> event when a subscription opens and an <c>unsubscribed</c> event when it ends, to
/// <c>events.exchange</c> (nothing when that is empty): JSON with the event, the kind (<c>queue</c>, <c>topic</c>),
/// the name, the token's subject (when the request carried one), the instance and the time; routing key
/// <c>EVENT.KIND.NAME</c>. One writer on a channel of its own, fed through a bounded buffer: a subscriber never
/// waits for it, and when the broker cannot keep up events are dropped and counted rather than held without bound.
/// On shutdown the events of the streams that ended are sent before the broker connections close. Events go out on
/// the pool's publishing connection, never a subscriber's; while the broker blocks it (a resource alarm) they are dropped.
/// </summary>
internal sealed class PresencePublisher : IHostedService, IAsyncDisposable
{
    /// <summary>Events waiting to be published, at most.</summary>
    public const int Capacity = 10_000;

    private const ushort PreconditionFailed = 406;
    private const ushort AccessRefused = 403;
    private const ushort NotFound = 404;

    private readonly PresenceOptions _options;
    private readonly BrokerPool _pool;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<PresencePublisher> _logger;
    private readonly Channel<PresenceEvent> _events;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, bool> _ending = new();
    private readonly LogDigest _failures;
    private ChannelLease? _lease;
    private bool _blockedLogged;

    /// <summary>The last failed attempt was the broker's refusal (403, 404), not a connection lost: not retried.</summary>
    private bool _refused;
    private Task _writer = Task.CompletedTask;

    public PresencePublisher(IOptions<PresenceOptions> options, BrokerPool pool, GatewayMetrics metrics, TimeProvider time, ILogger<PresencePublisher> logger)
    {
        _options = options.Value;
        _pool = pool;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        Instance = _options.Instance.Length > 0 ? _options.Instance : $"{Environment.MachineName}/{Environment.ProcessId}";
        _events = Channel.CreateBounded<PresenceEvent>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        // A refusal repeats for every event (a user without write on the exchange: every subscribe and leave, twice):
        // the first of each reason is logged, then their count once per 10 s.
        _failures = new LogDigest(
            LogDigest.RefusalInterval, time,
            reason => PresenceLog.PublishFailed(_logger, _options.Exchange, reason),
            (reason, count, over) => PresenceLog.PublishFailedRepeated(_logger, _options.Exchange, count, over.TotalSeconds, reason));
    }

    public bool Enabled => _options.Exchange.Length > 0;

    /// <summary>This gateway's name in its events.</summary>
    public string Instance { get; }

    /// <summary>The events (the first word of their routing keys): <c>subscribed</c>, <c>unsubscribed</c>.</summary>
    internal static readonly string[] Events = [SubscribedEvent, UnsubscribedEvent];

    private const string SubscribedEvent = "subscribed";
    private const string UnsubscribedEvent = "unsubscribed";

    public void Subscribed(string kind, string name, ClaimsPrincipal? user) => Queue(SubscribedEvent, kind, name, user);

    public void Unsubscribed(string kind, string name, ClaimsPrincipal? user) => Queue(UnsubscribedEvent, kind, name, user);

    /// <summary>
    /// The end of a subscription that runs on a task of its own and announces the end when done (a held long-poll's,
    /// ended by its hold or when the gateway starts stopping): <see cref="StopAsync"/> waits for it before it takes no more
    /// events. A stream's end needs none of this: its request ends before the web server stops, and so before this does.
    /// </summary>
    public Task Ending(Task end)
    {
        if (!end.IsCompleted)
        {
            _ending.TryAdd(end, true);
            // Removed when it completes, also when it did between the check and the add (the continuation then runs at once).
            _ = end.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, bool>)s!).TryRemove(t, out _), _ending,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return end;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            _writer = Task.Run(() => WriteAsync(_stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    /// <summary>No more events; sends those waiting until <paramref name="cancellationToken"/> (the shutdown timeout) fires.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Held long-polls end when the gateway starts stopping, each releasing its channel before it announces its end:
        // without this wait the events of those still releasing were dropped (200 held polls: 49 events lost).
        await Task.WhenAll(_ending.Keys).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _events.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await _stopping.CancelAsync();
        }

        if (Interlocked.Exchange(ref _lease, null) is { } lease)
        {
            await lease.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _failures.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The subject of a request's token: its <c>sub</c> claim (or the name identifier it was mapped to), when authenticated.</summary>
    internal static string? Subject(ClaimsPrincipal? user) =>
        user?.Identity?.IsAuthenticated == true
            ? (user.FindFirst("sub") ?? user.FindFirst(ClaimTypes.NameIdentifier))?.Value
            : null;

    /// <summary>The event's JSON.</summary>
    internal static byte[] Json(PresenceEvent presence)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", presence.Event);
            json.WriteString("kind", presence.Kind);
            json.WriteString("name", presence.Name);
            if (presence.Subject is { } subject)
            {
                json.WriteString("subject", subject);
            }
            else
            {
                json.WriteNull("subject");
            }

            json.WriteString("instance", presence.Instance);
            json.WriteString("time", presence.Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary><c>EVENT.KIND.NAME</c>; without the name when that would pass the 255 bytes a routing key may have.</summary>
    internal static string RoutingKey(PresenceEvent presence)
    {
        var key = $"{presence.Event}.{presence.Kind}.{presence.Name}";
        return Encoding.UTF8.GetByteCount(key) <= 255 ? key : $"{presence.Event}.{presence.Kind}";
    }

    private void Queue(string name, string kind, string subscription, ClaimsPrincipal? user)
    {
        if (!Enabled)
        {
            return;
        }

        var presence = new PresenceEvent(name, kind, subscription, Subject(user), Instance, _time.GetUtcNow());
        if (!_events.Writer.TryWrite(presence))
        {
            _metrics.PresenceEvent(PresenceOutcomes.Dropped);
        }
    }

    private async Task WriteAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var presence in _events.Reader.ReadAllAsync(stopping))
            {
                bool published;
                try
                {
                    // One retry on a fresh channel: a broker connection that dropped since the last event. Not after
                    // the broker's refusal (no permission, no such exchange): it would refuse again, on a second channel.
                    published = await TryPublishAsync(presence, stopping) || (!_refused && await TryPublishAsync(presence, stopping));
                }
                catch (BrokerBlockedException ex)
                {
                    // A resource alarm: the broker would hold the event (and the connection) until it clears. Dropped,
                    // with one line per blocked period rather than one per event.
                    _metrics.PresenceEvent(PresenceOutcomes.Dropped);
                    if (!_blockedLogged)
                    {
                        _blockedLogged = true;
                        PresenceLog.DroppedWhileBlocked(_logger, _options.Exchange, ex.BrokerReason);
                    }

                    continue;
                }

                _blockedLogged = false;
                if (!published)
                {
                    _metrics.PresenceEvent(PresenceOutcomes.Dropped);
                    continue;
                }

                _metrics.PresenceEvent(PresenceOutcomes.Published);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutdown took longer than allowed: what is still waiting is dropped.
        }
    }

    private async Task<bool> TryPublishAsync(PresenceEvent presence, CancellationToken stopping)
    {
        try
        {
            var channel = await ChannelAsync(stopping);
            if (_lease?.Slot.BlockedReason is { } blocked)
            {
                throw new BrokerBlockedException(blocked);
            }

            var properties = new BasicProperties
            {
                ContentType = "application/json",
                Type = presence.Event,
                AppId = "eventsourced",
                Timestamp = new AmqpTimestamp(presence.Time.ToUnixTimeSeconds()),
                Headers = new Dictionary<string, object?> { [MessageTimestamp.HeaderName] = presence.Time.ToUnixTimeMilliseconds() },
            };
            await channel.BasicPublishAsync(_options.Exchange, RoutingKey(presence), mandatory: false, properties, Json(presence), stopping);
            return true;
        }
        catch (Exception ex) when (ex is BrokerUnavailableException or OperationInterruptedException or AlreadyClosedException or IOException
            && ex is not BrokerBlockedException)
        {
            if (ex is not BrokerUnavailableException)
            {
                // The pool logged that one (event 206, then 207): a 610 for the same outage said it twice.
                _failures.Add(ex.Message);
            }

            _refused = ex is OperationInterruptedException { ShutdownReason.ReplyCode: AccessRefused or NotFound };
            if (Interlocked.Exchange(ref _lease, null) is { } lease)
            {
                await lease.DisposeAsync();
            }

            return false;
        }
    }

    /// <summary>The publishing channel, leased (and the exchange declared) when there is none or it closed.</summary>
    private async Task<IChannel> ChannelAsync(CancellationToken stopping)
    {
        if (_lease is { Channel.IsOpen: true } current)
        {
            return current.Channel;
        }

        if (Interlocked.Exchange(ref _lease, null) is { } old)
        {
            await old.DisposeAsync();
        }

        var lease = await _pool.LeasePublisherAsync(publisherConfirms: false, stopping);
        try
        {
            if (_options.Exchange.StartsWith("amq.", StringComparison.Ordinal))
            {
                await lease.Channel.ExchangeDeclarePassiveAsync(_options.Exchange, stopping);
            }
            else
            {
                try
                {
                    await lease.Channel.ExchangeDeclareAsync(_options.Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: stopping);
                }
                catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == PreconditionFailed)
                {
                    // It exists as another type: publish to it as it is.
                    PresenceLog.ExchangeDiffers(_logger, _options.Exchange, ex.ShutdownReason.ReplyText);
                    await lease.ReopenAsync(stopping);
                }
            }
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }

        _lease = lease;
        return lease.Channel;
    }
}

/// <summary>One presence event.</summary>
internal sealed record PresenceEvent(string Event, string Kind, string Name, string? Subject, string Instance, DateTimeOffset Time);

/// <summary>The <c>outcome</c> label values of <c>eventsourced_presence_events_total</c>.</summary>
internal static class PresenceOutcomes
{
    public const string Published = "published";
    public const string Dropped = "dropped";

    public static IReadOnlyList<string> All { get; } = [Published, Dropped];
}
