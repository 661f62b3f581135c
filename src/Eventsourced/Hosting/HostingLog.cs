using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

internal static partial class HostingLog
{
    [LoggerMessage(EventIds.Starting, LogLevel.Information, "eventsourced {Version} starting: stream at {Path}, queue pattern {Pattern}, {Nodes} broker node(s)", EventName = "Starting")]
    public static partial void Starting(ILogger logger, string version, string path, string pattern, int nodes);

    [LoggerMessage(EventIds.ConfigFilesRead, LogLevel.Information, "Configuration read from {Files}", EventName = "ConfigFilesRead")]
    public static partial void ConfigFilesRead(ILogger logger, string files);

    [LoggerMessage(EventIds.Stopping, LogLevel.Information, "Shutting down: /readyz answers 503; ending streams after {DrainSeconds}s (server.drain_delay) and closing broker connections (at most {Seconds}s more)", EventName = "Stopping")]
    public static partial void Stopping(ILogger logger, int drainSeconds, int seconds);

    [LoggerMessage(EventIds.HangupIgnored, LogLevel.Warning, "SIGHUP received and ignored: the configuration is read at start only; restart the gateway to apply changes", EventName = "HangupIgnored")]
    public static partial void HangupIgnored(ILogger logger);

    [LoggerMessage(EventIds.DrainCutShort, LogLevel.Information, "{Signal} received again: ending streams now, not at the end of server.drain_delay", EventName = "DrainCutShort")]
    public static partial void DrainCutShort(ILogger logger, string signal);

    [LoggerMessage(EventIds.CannotListen, LogLevel.Critical, "cannot listen: {Reason}", EventName = "CannotListen")]
    public static partial void CannotListen(ILogger logger, string reason);

    [LoggerMessage(EventIds.Stopped, LogLevel.Information, "Stopped", EventName = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventIds.StreamsCutAtShutdown, LogLevel.Warning, "{Connections} client connection(s) were still open when server.shutdown_timeout ({Seconds}s) ran out and were cut, {Why}; what they had not acknowledged goes back to its queue", EventName = "StreamsCutAtShutdown")]
    public static partial void StreamsCutAtShutdown(ILogger logger, long connections, int seconds, string why);

    [LoggerMessage(EventIds.Unauthenticated, LogLevel.Warning, "No subscriber tokens required (no key in auth.jwt) while listening on {Address}, beyond loopback: anyone who reaches the gateway reads any queue they can name", EventName = "Unauthenticated")]
    public static partial void Unauthenticated(ILogger logger, string address);

    [LoggerMessage(EventIds.TrustedProxiesEveryone, LogLevel.Warning, "limits.trusted_proxies entry {Entry} trusts every address: any client names itself in X-Forwarded-For and slips past the per-client limits (and is logged as whoever it names); list only your proxies' addresses or networks", EventName = "TrustedProxiesEveryone")]
    public static partial void TrustedProxiesEveryone(ILogger logger, string entry);

    [LoggerMessage(EventIds.TopicsShareQueueNames, LogLevel.Warning, "Topics may be created under any name a client's queue can have (topics.prefix is empty and queue.pattern {Pattern} is request values only): a subscriber allowed to create a topic can take a queue's name for good, and what services publish to that queue goes to the topic's stream; set topics.prefix (for example 'topic.')", EventName = "TopicsShareQueueNames")]
    public static partial void TopicsShareQueueNames(ILogger logger, string pattern);

    [LoggerMessage(EventIds.BindTakesRequestValues, LogLevel.Warning, "queue.bind entry {Entry} takes {Placeholder} from the request, which the token does not authorize (queue.pattern {Pattern} {Why}): a subscriber binds its own queue to whatever that value makes, another user's routing key for instance; bind by ${{claim:NAME}}, or name the queue by the value and list the names a token may read in its queues claim", EventName = "BindTakesRequestValues")]
    public static partial void BindTakesRequestValues(ILogger logger, string entry, string placeholder, string pattern, string why);

    [LoggerMessage(EventIds.CorsHeadersNotAllowed, LogLevel.Warning, "{Key} ({Where}) does not list {Missing}: a fetch-based reader on a page of another origin sends its token in Authorization (auth.from_header) and a topic's last id in Last-Event-ID, and the browser's preflight refuses such a request before it is sent; add {Missing} to the value (the default lists both; a 0.1.0 configuration that names the header replaces it)", EventName = "CorsHeadersNotAllowed")]
    public static partial void CorsHeadersNotAllowed(ILogger logger, string key, string where, string missing);

    [LoggerMessage(EventIds.SettingNotApplied, LogLevel.Warning, "{Key} is set but does not apply in an application embedding the gateway: {Instead}", EventName = "SettingNotApplied")]
    public static partial void SettingNotApplied(ILogger logger, string key, string instead);

    [LoggerMessage(EventIds.AddedAgainNotApplied, LogLevel.Warning, "AddEventsourced was called again with other settings, which do not apply: an application holds one gateway, with the settings of the first call (these keys differ: {Keys}); call AddEventsourced once", EventName = "AddedAgainNotApplied")]
    public static partial void AddedAgainNotApplied(ILogger logger, string keys);

    [LoggerMessage(EventIds.EndpointShadowed, LogLevel.Warning, "The application maps {Endpoint} at {Path} too, and it answers there, not the gateway's {Key}: give {Key} another path, or '' to leave the gateway's out", EventName = "EndpointShadowed")]
    public static partial void EndpointShadowed(ILogger logger, string endpoint, string path, string key);

    [LoggerMessage(EventIds.HeaderIgnored, LogLevel.Debug, "Configured header {Header} is managed by the HTTP server and is not sent as configured", EventName = "HeaderIgnored")]
    public static partial void HeaderIgnored(ILogger logger, string header);

    [LoggerMessage(EventIds.ConnectionLimit, LogLevel.Information, "Accepting at most {Connections} client connections at once (open-file limit {FileLimit}), {PerClient} of them from one client address; more are closed as they come", EventName = "ConnectionLimit")]
    public static partial void ConnectionLimit(ILogger logger, string connections, string fileLimit, string perClient);

    [LoggerMessage(EventIds.ConnectionLimitLowered, LogLevel.Warning, "limits.max_connections {Configured} is more than the open-file limit {FileLimit} leaves room for (the descriptors open at start and a reserve for broker connections and files): accepting at most {Connections} client connections instead, since running out of descriptors in accept() aborts the process; raise the open-file limit (LimitNOFILE=, ulimit -n) to at least {Needed} for {Configured}", EventName = "ConnectionLimitLowered")]
    public static partial void ConnectionLimitLowered(ILogger logger, int configured, long fileLimit, long connections, long needed);

    [LoggerMessage(EventIds.FileLimitLow, LogLevel.Warning, "The open-file limit {FileLimit} leaves room for {Connections} client connections only (the descriptors open at start and a reserve for broker connections and files take the rest); raise it (LimitNOFILE=, ulimit -n) to at least {Needed} for {Wanted}", EventName = "FileLimitLow")]
    public static partial void FileLimitLow(ILogger logger, long fileLimit, long connections, long needed, int wanted);

    [LoggerMessage(EventIds.ConnectionsRejected, LogLevel.Warning, "Client connections closed as they came: {Connections} are open, the most {Limit} allows", EventName = "ConnectionsRejected")]
    public static partial void ConnectionsRejected(ILogger logger, string connections, string limit);

    [LoggerMessage(EventIds.ConnectionsRejectedRepeated, LogLevel.Warning, "Client connections closed as they came {Count} more times in the last {Seconds}s: {Connections} are open, the most {Limit} allows", EventName = "ConnectionsRejectedRepeated")]
    public static partial void ConnectionsRejectedRepeated(ILogger logger, int count, int seconds, string connections, string limit);

    [LoggerMessage(EventIds.Http2ConnectionsAborted, LogLevel.Warning, "HTTP/2 connection ended by the server: its client {Reason}", EventName = "Http2ConnectionsAborted")]
    public static partial void Http2ConnectionsAborted(ILogger logger, string reason);

    [LoggerMessage(EventIds.Http2ConnectionsAbortedRepeated, LogLevel.Warning, "HTTP/2 connections ended by the server {Count} more times in the last {Seconds}s: their clients {Reason}", EventName = "Http2ConnectionsAbortedRepeated")]
    public static partial void Http2ConnectionsAbortedRepeated(ILogger logger, int count, int seconds, string reason);

    /// <summary>
    /// The expiry as an ISO 8601 UTC text: given as a <see cref="DateTime"/> (the certificate's, in local time), the JSON
    /// format wrote it month first without a zone ("01/05/2027 20:07:50"), and the text format's <c>u</c> called local
    /// time UTC on a machine whose zone is not.
    /// </summary>
    public static void CertificateLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter) =>
        CertificateLoadedUtc(logger, subject, thumbprint, notAfter.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));

    [LoggerMessage(EventIds.CertificateLoaded, LogLevel.Information, "TLS certificate {Subject} ({Thumbprint}, valid until {NotAfter}) in use for new connections", EventName = "CertificateLoaded")]
    private static partial void CertificateLoadedUtc(ILogger logger, string subject, string thumbprint, string notAfter);

    [LoggerMessage(EventIds.CertificateNotValidNow, LogLevel.Warning, "TLS certificate {Subject} ({Thumbprint}) {Validity}: clients refuse it", EventName = "CertificateNotValidNow")]
    public static partial void CertificateNotValidNow(ILogger logger, string subject, string thumbprint, string validity);

    [LoggerMessage(EventIds.CertificateReloadFailed, LogLevel.Warning, "TLS certificate {Path} and key {KeyPath} changed but cannot be loaded ({Reason}); keeping the one in use", EventName = "CertificateReloadFailed")]
    public static partial void CertificateReloadFailed(ILogger logger, string path, string keyPath, string reason);
}
