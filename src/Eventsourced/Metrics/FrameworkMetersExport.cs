using System.Collections.Frozen;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Eventsourced.Metrics;

/// <summary>
/// Exports the instruments an operator reads from the .NET runtime, Kestrel and hosting meters into the gateway's
/// registry through prometheus-net's meter adapter. The adapter names a series <c>meter_instrument</c> (dots to
/// <c>_</c>, lowercase: <c>system_runtime_dotnet_gc_collections</c>) and makes every non-histogram instrument a
/// gauge. Started before the web server (an up-down counter's earlier changes would be lost); disposed with the
/// application.
/// </summary>
/// <remarks>
/// The runtime meter is process-wide. Kestrel's and hosting's are per application: only those built on this
/// application's <see cref="IMeterFactory"/> (their <see cref="Meter.Scope"/>) are exported, so two gateways in
/// one process never count each other's traffic.
/// </remarks>
internal sealed class FrameworkMetersExport : IDisposable
{
    public const string RuntimeMeterName = "System.Runtime";
    public const string KestrelMeterName = "Microsoft.AspNetCore.Server.Kestrel";
    public const string HostingMeterName = "Microsoft.AspNetCore.Hosting";

    /// <summary>
    /// prometheus-net drops an exported series that saw no measurement for this long; it accepts at most a day.
    /// Observable instruments are measured at every scrape. A running total that did not move for a day starts
    /// again from 0 when it next moves (a counter reset to <c>rate()</c>). The up-down counters (open connections,
    /// active requests) would come back wrong, so <c>/metrics</c> closes its connection after each answer: every
    /// scrape moves them, and while anything scrapes at least once a day they never expire.
    /// </summary>
    public static readonly TimeSpan ExpireAfter = TimeSpan.FromDays(1);

    /// <summary>Buckets for histograms in seconds: a 5 ms answer up to a stream open for a day.</summary>
    public static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400, 86400];

    // What an operator reads. Runtime instruments whose exported name would end in "_count" (thread pool threads
    // and work items, timers, assemblies, CPUs) are left out: promtool rejects that suffix on a gauge.
    private static readonly FrozenSet<string> RuntimeInstruments = FrozenSet.Create(
        StringComparer.Ordinal,
        "dotnet.gc.collections",
        "dotnet.gc.heap.total_allocated",
        "dotnet.gc.last_collection.heap.size",
        "dotnet.gc.last_collection.memory.committed_size",
        "dotnet.gc.pause.time",
        "dotnet.process.memory.working_set",
        "dotnet.process.cpu.time",
        "dotnet.thread_pool.queue.length",
        "dotnet.monitor.lock_contentions",
        "dotnet.exceptions");

    private static readonly FrozenSet<string> KestrelInstruments = FrozenSet.Create(
        StringComparer.Ordinal,
        "kestrel.active_connections",
        "kestrel.queued_connections",
        "kestrel.queued_requests",
        "kestrel.rejected_connections");

    private static readonly FrozenSet<string> HostingInstruments = FrozenSet.Create(
        StringComparer.Ordinal,
        "http.server.request.duration",
        "http.server.active_requests");

    private readonly IDisposable _adapter;

    public FrameworkMetersExport([FromKeyedServices(GatewayMetrics.RegistryKey)] CollectorRegistry registry, IMeterFactory meterFactory)
    {
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = registry,
            // The options default to the static default registry's factory, which would win over Registry.
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(registry),
            InstrumentFilterPredicate = instrument => IsExported(instrument, meterFactory),
            MetricsExpireAfter = ExpireAfter,
            ResolveHistogramBuckets = instrument => instrument.Unit == "s" ? SecondsBuckets : MeterAdapterOptions.DefaultHistogramBuckets,
        });
    }

    /// <summary>Whether <paramref name="instrument"/> is exported for the application built on <paramref name="meterFactory"/>.</summary>
    public static bool IsExported(Instrument instrument, IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        var meter = instrument.Meter;
        return meter.Name switch
        {
            RuntimeMeterName => RuntimeInstruments.Contains(instrument.Name),
            KestrelMeterName => ReferenceEquals(meter.Scope, meterFactory) && KestrelInstruments.Contains(instrument.Name),
            HostingMeterName => ReferenceEquals(meter.Scope, meterFactory) && HostingInstruments.Contains(instrument.Name),
            _ => false,
        };
    }

    public void Dispose() => _adapter.Dispose();
}
