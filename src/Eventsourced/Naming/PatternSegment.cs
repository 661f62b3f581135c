namespace Eventsourced.Naming;

/// <summary>One piece of a <see cref="QueuePattern"/>: literal text, or the name of a query parameter or cookie.</summary>
public readonly record struct PatternSegment(PatternSegmentKind Kind, string Value)
{
    /// <summary>The segment as written in a pattern: the literal text or <c>${query:NAME}</c> / <c>${cookie:NAME}</c>.</summary>
    public override string ToString() => Kind switch
    {
        PatternSegmentKind.Query => $"${{query:{Value}}}",
        PatternSegmentKind.Cookie => $"${{cookie:{Value}}}",
        _ => Value,
    };
}
