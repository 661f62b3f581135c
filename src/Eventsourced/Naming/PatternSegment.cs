namespace Eventsourced.Naming;

/// <summary>One piece of a <see cref="QueuePattern"/>: literal text, or the name of a query parameter, cookie or token claim.</summary>
public readonly record struct PatternSegment(PatternSegmentKind Kind, string Value)
{
    /// <summary>The segment as written in a pattern: the literal text or <c>${query:NAME}</c> / <c>${cookie:NAME}</c> / <c>${claim:NAME}</c>.</summary>
    public override string ToString() => Kind switch
    {
        PatternSegmentKind.Query => $"${{query:{Value}}}",
        PatternSegmentKind.Cookie => $"${{cookie:{Value}}}",
        PatternSegmentKind.Claim => $"${{claim:{Value}}}",
        PatternSegmentKind.Destination => "${to}",
        _ => Value,
    };
}
