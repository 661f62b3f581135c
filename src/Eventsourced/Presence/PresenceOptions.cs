using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Presence;

/// <summary>
/// The <c>events</c> section: the gateway's own events about its subscribers, published to an exchange, so that a
/// service (or a topic that pages subscribe to) can show who is online.
/// </summary>
public sealed class PresenceOptions
{
    /// <summary>
    /// <c>events.exchange</c>: where <c>subscribed</c> and <c>unsubscribed</c> events go (a topic exchange, declared
    /// if missing; <c>amq.topic</c> works too); empty publishes nothing.
    /// </summary>
    [ConfigurationKeyName("exchange")]
    [ValueRule<ExchangeName>]
    public string Exchange { get; set; } = string.Empty;

    /// <summary><c>events.instance</c>: this gateway's name in its events; empty for the host's name and the process id.</summary>
    [ConfigurationKeyName("instance")]
    [ValueRule<InstanceName>]
    public string Instance { get; set; } = string.Empty;
}

/// <summary>An exchange name: at most 255 UTF-8 bytes, no control characters; empty where that means "none".</summary>
internal sealed class ExchangeName : IValueRule
{
    private ExchangeName()
    {
    }

    public static string? Check(string name) =>
        System.Text.Encoding.UTF8.GetByteCount(name) > 255 ? $"must be at most 255 bytes, got {name.Length} characters"
        : name.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || name.Contains('\u007f') ? $"must not contain control characters, got {ConfigText.Quote(name)}"
        : null;
}

/// <summary>An instance name: printable, at most 255 characters.</summary>
internal sealed class InstanceName : IValueRule
{
    private InstanceName()
    {
    }

    public static string? Check(string name) =>
        name.Length > 255 ? $"must be at most 255 characters, got {name.Length}"
        : name.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || name.Contains('\u007f') ? $"must not contain control characters, got {ConfigText.Quote(name)}"
        : null;
}
