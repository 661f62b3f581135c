using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Hosting;

/// <summary>
/// The <c>log</c> section (not in the original). Values are accepted in any case and stored as listed, so
/// <c>Enum.Parse&lt;LogLevel&gt;(Level, ignoreCase: true)</c> always succeeds.
/// </summary>
public sealed class LogOptions
{
    /// <summary><c>log.level</c>: <c>trace</c>, <c>debug</c>, <c>information</c>, <c>warning</c>, <c>error</c> or <c>critical</c>.</summary>
    [ConfigurationKeyName("level")]
    [AllowedValues("trace", "debug", "information", "warning", "error", "critical")]
    public string Level { get; set; } = "information";

    /// <summary><c>log.format</c>: <c>text</c> (one line per entry) or <c>json</c> (one object per line).</summary>
    [ConfigurationKeyName("format")]
    [AllowedValues("text", "json")]
    public string Format { get; set; } = "text";

    /// <summary>Whether <see cref="Format"/> is <c>json</c>: the one test of it, for logging and for the exits that log before any host does.</summary>
    internal bool IsJson => string.Equals(Format, "json", StringComparison.OrdinalIgnoreCase);
}
