using Eventsourced.Broker;
using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Consuming;

/// <summary>A client's own queue: named by <c>queue.pattern</c>, declared and consumed exclusively (<see cref="QueueSubscription"/>).</summary>
internal sealed class QueueTarget(IOptions<QueueOptions> options, BrokerPool pool, MessageLimits limits, ILogger<QueueTarget> logger) : ISubscriptionTarget
{
    /// <summary>The <see cref="ISubscriptionTarget.Kind"/> of a client's own queue.</summary>
    public const string KindName = "queue";

    private readonly QueueOptions _options = options.Value;
    private readonly QueueNameResolver _resolver = new(QueuePattern.Parse(options.Value.Pattern));

    public string Kind => KindName;

    public bool TryResolve(HttpContext context, out string name, out string reason) =>
        _resolver.TryResolve(context.Request, out name, out reason);

    public async Task<ISubscription> OpenAsync(string name, IFrameFormat format, CancellationToken cancellationToken) =>
        await QueueSubscription.OpenAsync(pool, name, _options, format, logger, cancellationToken, limits);
}
