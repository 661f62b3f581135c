namespace Eventsourced.Configuration;

/// <summary>
/// Every configuration key, in the order <see cref="ConfigPrinter"/> prints them (sections in order of
/// first appearance). Adding a key is one line here plus its property; the loader, the environment
/// convention and the printer follow from this table.
/// </summary>
internal static class ConfigSchema
{
    /// <summary>Upper bound of <c>queue.expires</c>: the broker's <c>x-expires</c> is milliseconds in a signed 32-bit field.</summary>
    public const int MaxExpiresSeconds = int.MaxValue / 1000;

    public static IReadOnlyList<ConfigKey> Keys { get; } =
    [
        ConfigKey.Text("server.address", o => o.Server.Address, (o, v) => o.Server.Address = v, ListenAddress.Check),
        ConfigKey.Text("server.path", o => o.Server.Path, (o, v) => o.Server.Path = v, ConfigRules.UrlPath),
        ConfigKey.Number("server.heartbeat", o => o.Server.HeartbeatSeconds, (o, v) => o.Server.HeartbeatSeconds = v, 0, 3600),
        ConfigKey.Number("server.shutdown_timeout", o => o.Server.ShutdownTimeoutSeconds, (o, v) => o.Server.ShutdownTimeoutSeconds = v, 0, 3600),
        ConfigKey.Number("server.write_timeout", o => o.Server.WriteTimeoutSeconds, (o, v) => o.Server.WriteTimeoutSeconds = v, 1, 3600),
        ConfigKey.List("broker.node", o => o.Broker.Node, (o, v) => o.Broker.Node = v, ConfigRules.BrokerNode, ConfigRules.MaskBrokerNode),
        ConfigKey.Number("broker.reconnect_max", o => o.Broker.ReconnectMaxSeconds, (o, v) => o.Broker.ReconnectMaxSeconds = v, 1, 3600),
        ConfigKey.Text("queue.pattern", o => o.Queue.Pattern, (o, v) => o.Queue.Pattern = v, ConfigRules.Pattern),
        ConfigKey.Number("queue.expires", o => o.Queue.ExpiresSeconds, (o, v) => o.Queue.ExpiresSeconds = v, 0, MaxExpiresSeconds) with { Aliases = ["expire"] },
        ConfigKey.Number("queue.prefetch", o => o.Queue.Prefetch, (o, v) => o.Queue.Prefetch = v, 1, 65535),
        ConfigKey.Headers("header.cors", o => o.Header.Cors),
        ConfigKey.Headers("header.sse", o => o.Header.Sse),
        ConfigKey.Choice("log.level", o => o.Log.Level, (o, v) => o.Log.Level = v, "trace", "debug", "information", "warning", "error", "critical"),
        ConfigKey.Choice("log.format", o => o.Log.Format, (o, v) => o.Log.Format = v, "text", "json"),
    ];
}
