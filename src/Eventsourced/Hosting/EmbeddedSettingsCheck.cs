using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// In an application embedding the gateway (<c>AddEventsourced(IConfiguration)</c>), the keys that only the gateway's own
/// program applies (listening, TLS, shutdown, logging, Kestrel's limits, the proxies' headers) do nothing: each one the
/// configuration sets is logged at start (event 117) with what the application does instead, rather than ignored without a
/// word (behind a proxy, <c>limits.trusted_proxies</c> unapplied made every client count as the proxy for the limits).
/// A later <c>AddEventsourced</c> call whose settings differ from the first's registers nothing (one gateway per
/// application): the keys it would have changed are logged at start too (event 160), not dropped without a word.
/// </summary>
internal sealed class EmbeddedSettingsCheck(IConfiguration configuration, ILoggerFactory loggers, EmbeddedSettingsCheck.Calls calls, Func<IReadOnlySet<string>>? changedInCode = null) : IHostedService
{
    private const string Kestrel = "Kestrel's limits are the application's to set (KestrelServerOptions.Limits)";

    /// <summary>Each key of the program's alone, with what an application does instead.</summary>
    internal static readonly (string Key, string Instead)[] ProgramOnly =
    [
        ("server:address", "the application listens where it is configured to (ASPNETCORE_URLS, Kestrel)"),
        ("server:tls", "HTTPS is the application's to set up (Kestrel)"),
        ("server:shutdown_timeout", "the application's host shuts down (HostOptions.ShutdownTimeout)"),
        ("log", "the application's logging applies (the Logging section)"),
        ("metrics:address", "a listener of its own for the observability endpoints is the application's to set up"),
        ("limits:max_connections", Kestrel),
        ("limits:connections_per_client", "connections are counted only where the gateway's own program accepts them; limits.streams_per_client still applies"),
        ("limits:max_request_header_bytes", Kestrel),
        ("limits:max_request_headers", Kestrel),
        ("limits:request_headers_timeout", Kestrel),
        ("limits:trusted_proxies", "call app.UseForwardedHeaders() before the endpoints, else behind a proxy every client counts as the proxy's address for limits.streams_per_client and limits.subscribes_per_second"),
    ];

    /// <summary>
    /// The keys of <see cref="ProgramOnly"/> that <paramref name="configuration"/> sets, or that code changed over what it gave
    /// (<paramref name="inCode"/>, configuration keys: <c>Configure&lt;ServerOptions&gt;</c>, ...), as <c>section.key</c>.
    /// </summary>
    internal static IEnumerable<(string Key, string Instead)> Set(IConfiguration configuration, IReadOnlySet<string> inCode) =>
        ProgramOnly.Where(k => configuration.GetSection(k.Key).Exists() || inCode.Any(c => ConfigMerger.IsEntryOf(c, k.Key)))
            .Select(k => (k.Key.Replace(':', '.'), k.Instead));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggers.CreateLogger("Eventsourced");
        foreach (var (key, instead) in Set(configuration, changedInCode?.Invoke() ?? new HashSet<string>()))
        {
            HostingLog.SettingNotApplied(logger, key, instead);
        }

        foreach (var keys in calls.Ignored)
        {
            HostingLog.AddedAgainNotApplied(logger, string.Join(", ", keys));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The <c>AddEventsourced</c> calls after the first (registered once, as an instance, by the first call).</summary>
    internal sealed class Calls(IConfiguration configuration)
    {
        private readonly List<string[]> _ignored = [];

        /// <summary>The keys that each later call with other settings would have changed.</summary>
        public IReadOnlyList<string[]> Ignored
        {
            get
            {
                lock (_ignored)
                {
                    return _ignored.ToArray();
                }
            }
        }

        /// <summary>
        /// A later <c>AddEventsourced</c> call with <paramref name="other"/>: the keys (<c>section.key</c>) whose values differ from
        /// the first call's, or that only one of the two sets, are remembered to be logged at start. Values are never logged
        /// (they may be secrets).
        /// </summary>
        public void CalledAgain(IConfiguration other)
        {
            var first = Flatten(configuration);
            var again = Flatten(other);
            var differing = first.Keys.Union(again.Keys, StringComparer.OrdinalIgnoreCase)
                .Where(key => !first.TryGetValue(key, out var a) || !again.TryGetValue(key, out var b) || !string.Equals(a, b, StringComparison.Ordinal))
                .Select(key => key.Replace(':', '.'))
                .Order(StringComparer.Ordinal)
                .ToArray();
            if (differing.Length > 0)
            {
                lock (_ignored)
                {
                    _ignored.Add(differing);
                }
            }
        }

        private static Dictionary<string, string?> Flatten(IConfiguration configuration) =>
            configuration.AsEnumerable(makePathsRelative: true)
                .Where(e => e.Value is not null)
                .ToDictionary(e => e.Key, e => e.Value, StringComparer.OrdinalIgnoreCase);
    }
}
