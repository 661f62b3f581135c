namespace Eventsourced.Naming;

/// <summary>What a <see cref="PatternSegment"/> stands for.</summary>
public enum PatternSegmentKind
{
    /// <summary>Text copied into the queue name as it is.</summary>
    Literal,

    /// <summary><c>${query:NAME}</c>: the value of query parameter NAME.</summary>
    Query,

    /// <summary><c>${cookie:NAME}</c>: the value of cookie NAME.</summary>
    Cookie,

    /// <summary><c>${claim:NAME}</c>: the value of claim NAME of the request's verified token (<c>auth</c>).</summary>
    Claim,

    /// <summary><c>${to}</c> of <c>ws.publish_routing_key</c>: the destination a client names (never in a queue pattern).</summary>
    Destination,
}
