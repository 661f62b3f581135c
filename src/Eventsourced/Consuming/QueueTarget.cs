using Eventsourced.Broker;
using Eventsourced.Naming;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Consuming;

/// <summary>A client's own queue: named by <c>queue.pattern</c>, declared and consumed exclusively (<see cref="QueueSubscription"/>).</summary>
internal sealed class QueueTarget(IOptions<QueueOptions> options, IOptions<TopicOptions> topics, BrokerPool pool, MessageLimits limits, ILogger<QueueTarget> logger) : ISubscriptionTarget
{
    /// <summary>The <see cref="ISubscriptionTarget.Kind"/> of a client's own queue.</summary>
    public const string KindName = "queue";

    private static readonly object BindingsKey = new();

    private readonly QueueOptions _options = options.Value;
    private readonly QueueNameResolver _resolver = new(QueuePattern.Parse(options.Value.Pattern));
    private readonly QueueBinding[] _bindings = [.. options.Value.Bind.Select(QueueBinding.Parse)];

    /// <summary>The query parameters <c>queue.pattern</c> and <c>queue.bind</c> read (<c>${query:NAME}</c>).</summary>
    private readonly HashSet<string> _queryParameters = QueryParameters(options.Value);

    /// <summary><c>topics.prefix</c> while topics are served: the names of topics' streams, which no client's queue may take.</summary>
    private readonly string _topicsPrefix = topics.Value.Path.Length > 0 ? topics.Value.Prefix : string.Empty;

    public string Kind => KindName;

    /// <summary><c>queue.busy_grace</c>: how long a subscriber of a queue that is held keeps trying.</summary>
    public TimeSpan BusyGrace => TimeSpan.FromSeconds(_options.BusyGraceSeconds);

    /// <summary>The queue's name, and its <c>queue.bind</c> bindings for this request (kept with the request for <see cref="OpenAsync"/>).</summary>
    public bool TryResolve(HttpContext context, out string name, out string reason)
    {
        if (!_resolver.TryResolve(context.Request, out name, out reason))
        {
            return false;
        }

        if (_topicsPrefix.Length > 0 && name.StartsWith(_topicsPrefix, StringComparison.Ordinal))
        {
            // A classic queue of that name would take a topic's stream name: the topic refused to every subscriber (409)
            // while it exists, and what services publish to the topic before its stream exists consumed by one client.
            reason = $"queue name must not start with '{_topicsPrefix}' (topics.prefix: the names of topics' streams)";
            name = string.Empty;
            return false;
        }

        if (_bindings.Length > 0)
        {
            var bindings = new ResolvedBinding[_bindings.Length];
            for (var i = 0; i < bindings.Length; i++)
            {
                if (!_bindings[i].TryResolve(context.Request, out bindings[i], out reason))
                {
                    return false;
                }
            }

            context.Items[BindingsKey] = bindings;
        }

        return true;
    }

    /// <summary>
    /// Whether <c>queue.pattern</c> or an entry of <c>queue.bind</c> reads the query parameter <paramref name="name"/>: then it is the
    /// application's, whatever the gateway's endpoints would otherwise make of it (names match as the request's query does, in any case).
    /// </summary>
    public bool ReadsQueryParameter(string name) => _queryParameters.Contains(name);

    public async Task<ISubscription> OpenAsync(HttpContext context, string name, IFrameFormat format, CancellationToken cancellationToken) =>
        await QueueSubscription.OpenAsync(
            pool, name, _options, BindingsOf(context), format, logger, cancellationToken, limits);

    /// <summary>The bindings <see cref="TryResolve"/> resolved for the request (none without <c>queue.bind</c>).</summary>
    public static IReadOnlyList<ResolvedBinding> BindingsOf(HttpContext context) => context.Items[BindingsKey] as ResolvedBinding[] ?? [];

    /// <summary>
    /// Binds queue <paramref name="name"/>, subscribed already, as the request's bindings say where <paramref name="bound"/>
    /// (what it was bound to so far, which this adds to) lacks them: a held subscription's later request may name other
    /// values (<c>?room=b</c> after <c>?room=a</c>), which the stream's reconnect would have bound.
    /// </summary>
    /// <exception cref="SubscribeException">The broker refused, or no connection is up.</exception>
    public async Task BindMissingAsync(HttpContext context, string name, HashSet<ResolvedBinding> bound, CancellationToken cancellationToken)
    {
        var missing = BindingsOf(context).Where(b => !bound.Contains(b)).ToArray();
        if (missing.Length > 0)
        {
            await QueueSubscription.BindAsync(pool, name, missing, logger, cancellationToken);
            bound.UnionWith(missing);
        }
    }

    private static HashSet<string> QueryParameters(QueueOptions options) =>
        options.Bind.Select(QueueBinding.Parse).SelectMany(b => b.Exchange.Segments.Concat(b.RoutingKey.Segments))
            .Concat(QueuePattern.Parse(options.Pattern).Segments)
            .Where(s => s.Kind == PatternSegmentKind.Query)
            .Select(s => s.Value)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
}
