using System.Diagnostics.Metrics;
using Eventsourced.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Eventsourced.Tests.Metrics;

/// <summary>What the meter adapter exports from the runtime, Kestrel and hosting meters, and for which application.</summary>
public sealed class FrameworkMetersExportTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ServiceProvider _otherServices = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    private IMeterFactory OtherFactory => _otherServices.GetRequiredService<IMeterFactory>();

    [Fact]
    public void IsExported_KestrelAndHostingOfThisFactory_AndTheRuntimeMeter()
    {
        using var runtime = new Meter(FrameworkMetersExport.RuntimeMeterName);
        using var unrelated = new Meter("System.Net.Http");
        var kestrel = Factory.Create(FrameworkMetersExport.KestrelMeterName);
        var hosting = Factory.Create(FrameworkMetersExport.HostingMeterName);

        Assert.True(FrameworkMetersExport.IsExported(kestrel.CreateUpDownCounter<long>("kestrel.active_connections"), Factory));
        Assert.True(FrameworkMetersExport.IsExported(kestrel.CreateUpDownCounter<long>("kestrel.queued_connections"), Factory));
        Assert.True(FrameworkMetersExport.IsExported(hosting.CreateHistogram<double>("http.server.request.duration"), Factory));
        Assert.True(FrameworkMetersExport.IsExported(hosting.CreateUpDownCounter<long>("http.server.active_requests"), Factory));
        Assert.True(FrameworkMetersExport.IsExported(runtime.CreateObservableCounter("dotnet.gc.collections", () => 1L), Factory));
        Assert.True(FrameworkMetersExport.IsExported(runtime.CreateObservableCounter("dotnet.process.cpu.time", () => 1.0), Factory));
        Assert.False(FrameworkMetersExport.IsExported(OtherFactory.Create(FrameworkMetersExport.KestrelMeterName).CreateUpDownCounter<long>("kestrel.active_connections"), Factory));
        Assert.False(FrameworkMetersExport.IsExported(OtherFactory.Create(FrameworkMetersExport.HostingMeterName).CreateHistogram<double>("http.server.request.duration"), Factory));
        Assert.False(FrameworkMetersExport.IsExported(unrelated.CreateHistogram<double>("http.client.request.duration"), Factory));
        Assert.False(FrameworkMetersExport.IsExported(Factory.Create("Some.Other").CreateCounter<long>("kestrel.active_connections"), Factory));
        // Names ending in _count are what promtool rejects on a gauge.
        Assert.False(FrameworkMetersExport.IsExported(runtime.CreateObservableGauge("dotnet.thread_pool.thread.count", () => 1L), Factory));
        Assert.False(FrameworkMetersExport.IsExported(runtime.CreateObservableGauge("dotnet.timer.count", () => 1L), Factory));
    }

    [Fact]
    public void Export_RuntimeMeter_KnownFamiliesAsGaugesWithCurrentValues()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        using var export = new FrameworkMetersExport(registry, Factory);

        var scrape = Scrape.Of(registry);

        Assert.Equal("gauge", scrape.Types["system_runtime_dotnet_gc_heap_total_allocated"]);
        Assert.Equal("gauge", scrape.Types["system_runtime_dotnet_process_memory_working_set"]);
        Assert.Equal("gauge", scrape.Types["system_runtime_dotnet_thread_pool_queue_length"]);
        Assert.Equal("gauge", scrape.Types["system_runtime_dotnet_process_cpu_time"]);
        Assert.Equal("gauge", scrape.Types["system_runtime_dotnet_gc_collections"]);
        Assert.True(scrape.Value("system_runtime_dotnet_process_memory_working_set") > 0);
        Assert.True(scrape.Value("system_runtime_dotnet_gc_heap_total_allocated") > 0);
        Assert.Equal(["gc_heap_generation=gen0", "gc_heap_generation=gen1", "gc_heap_generation=gen2"], scrape.LabelSets("system_runtime_dotnet_gc_collections"));
        Assert.DoesNotContain(scrape.Types.Keys, name => name.EndsWith("_count", StringComparison.Ordinal));
    }

    [Fact]
    public void Export_KestrelAndHostingOfThisFactory_OthersLeftOut()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        using var export = new FrameworkMetersExport(registry, Factory);
        var tags = new KeyValuePair<string, object?>[] { new("network.transport", "tcp"), new("server.port", 2069) };
        var active = Factory.Create(FrameworkMetersExport.KestrelMeterName).CreateUpDownCounter<long>("kestrel.active_connections");
        var otherActive = OtherFactory.Create(FrameworkMetersExport.KestrelMeterName).CreateUpDownCounter<long>("kestrel.active_connections");
        var duration = Factory.Create(FrameworkMetersExport.HostingMeterName).CreateHistogram<double>("http.server.request.duration", "s");

        active.Add(1, tags);
        active.Add(1, tags);
        active.Add(-1, tags);
        otherActive.Add(5, tags);
        duration.Record(0.02, new KeyValuePair<string, object?>("http.route", "/metrics"));
        duration.Record(120, new KeyValuePair<string, object?>("http.route", "/metrics"));

        var scrape = Scrape.Of(registry);
        Assert.Equal(1, scrape.Value("microsoft_aspnetcore_server_kestrel_kestrel_active_connections", ("network_transport", "tcp"), ("server_port", "2069")));
        Assert.Equal("histogram", scrape.Types["microsoft_aspnetcore_hosting_http_server_request_duration"]);
        Assert.Equal(2, scrape.Value("microsoft_aspnetcore_hosting_http_server_request_duration_count", ("http_route", "/metrics")));
        Assert.Equal(1, scrape.Value("microsoft_aspnetcore_hosting_http_server_request_duration_bucket", ("http_route", "/metrics"), ("le", "0.025")));
        Assert.Equal(1, scrape.Value("microsoft_aspnetcore_hosting_http_server_request_duration_bucket", ("http_route", "/metrics"), ("le", "60")));
        Assert.Equal(2, scrape.Value("microsoft_aspnetcore_hosting_http_server_request_duration_bucket", ("http_route", "/metrics"), ("le", "300")));
    }

    [Fact]
    public void Dispose_StopsTheExport()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var export = new FrameworkMetersExport(registry, Factory);
        var active = Factory.Create(FrameworkMetersExport.KestrelMeterName).CreateUpDownCounter<long>("kestrel.active_connections");
        active.Add(1);

        export.Dispose();
        active.Add(1);

        Assert.Equal(1, Scrape.Of(registry).Value("microsoft_aspnetcore_server_kestrel_kestrel_active_connections"));
    }

    public void Dispose()
    {
        _services.Dispose();
        _otherServices.Dispose();
    }
}
