namespace Eventsourced.Configuration;

/// <summary>
/// The <c>log</c> section (not in the original). The loader accepts the values in any case and stores
/// them in lower case, so <c>Enum.Parse&lt;LogLevel&gt;(Level, ignoreCase: true)</c> always succeeds.
/// </summary>
public sealed class LogOptions
{
    /// <summary><c>log.level</c>: <c>trace</c>, <c>debug</c>, <c>information</c>, <c>warning</c>, <c>error</c> or <c>critical</c>.</summary>
    public string Level { get; set; } = "information";

    /// <summary><c>log.format</c>: <c>text</c> (one line per entry) or <c>json</c> (one object per line).</summary>
    public string Format { get; set; } = "text";
}
