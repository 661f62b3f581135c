using System.Diagnostics;
using System.Text.Json;
using Eventsourced.Broker;
using Eventsourced.Hosting;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Metrics;

/// <summary>
/// <c>GET metrics.debug_vars</c>: one JSON object in the spirit of Go's expvar (<c>/debug/vars</c> of the
/// original): <c>cmdline</c> and <c>memstats</c> as expvar has them, plus the gateway's own variables, read from
/// the same series <c>/metrics</c> shows (open streams, deliveries, connections up and channels per node).
/// </summary>
internal sealed class DebugVarsEndpoint
{
    private readonly BrokerPool _pool;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly long _started;

    public DebugVarsEndpoint(BrokerPool pool, GatewayMetrics metrics, TimeProvider time)
    {
        _pool = pool;
        _metrics = metrics;
        _time = time;
        _started = time.GetTimestamp();
    }

    public async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        await using var json = new Utf8JsonWriter(response.Body, new JsonWriterOptions { Indented = true });
        Write(json);
        await json.FlushAsync(context.RequestAborted);
    }

    public void Write(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var slots = _pool.Slots;
        json.WriteStartObject();

        json.WriteStartArray("cmdline");
        foreach (var argument in Environment.GetCommandLineArgs())
        {
            json.WriteStringValue(argument);
        }

        json.WriteEndArray();
        json.WriteString("version", GatewayVersion.Current);
        json.WriteNumber("uptime_seconds", Math.Round(_time.GetElapsedTime(_started).TotalSeconds, 3));

        // The pool knows which connections exist (up or not); the series know how many are up and their channels.
        var nodes = slots.GroupBy(s => s.Node, StringComparer.Ordinal)
            .Select(node => (Node: node.Key, Connections: node.Count(), Up: _metrics.ConnectionsUp(node.Key), Channels: _metrics.Channels(node.Key)))
            .ToArray();
        // Topics' and the gateway's publishers' connections (... streams #N, ... publisher #N), opened when first needed:
        // not in connections and connections_up (the queue subscribers', as /readyz counts them).
        var forStreams = _pool.StreamSlots;
        var publishers = _pool.PublisherSlots;
        json.WriteStartObject("broker");
        json.WriteNumber("connections", slots.Count);
        json.WriteNumber("connections_up", nodes.Sum(n => n.Up));
        WriteConnections(json, forStreams, publishers, node: null);
        json.WriteStartObject("nodes");
        foreach (var node in nodes)
        {
            json.WriteStartObject(node.Node);
            json.WriteNumber("connections", node.Connections);
            json.WriteNumber("connections_up", node.Up);
            WriteConnections(json, forStreams, publishers, node.Node);
            json.WriteNumber("channels", node.Channels);
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();

        json.WriteNumber("streams", _metrics.StreamsOpen);
        json.WriteNumber("consumers", nodes.Sum(n => n.Channels));
        json.WriteNumber("messages_delivered", _metrics.MessagesDelivered);
        json.WriteNumber("deliveries_last_second", _metrics.DeliveriesLastSecond);

        using var process = Process.GetCurrentProcess();
        json.WriteNumber("threads", process.Threads.Count);
        json.WriteNumber("thread_pool_threads", ThreadPool.ThreadCount);

        // Read in this order, and TotalAlloc precisely (with what threads allocated since their last refill), so that
        // what was ever allocated is never less than what is allocated now, nor the heap's memory less than what it
        // holds: before the first collection the runtime reports no committed bytes at all.
        var alloc = GC.GetTotalMemory(forceFullCollection: false);
        var totalAlloc = Math.Max(GC.GetTotalAllocatedBytes(precise: true), alloc);
        var committed = Math.Max(GC.GetGCMemoryInfo().TotalCommittedBytes, alloc);
        json.WriteStartObject("memstats");
        json.WriteNumber("Alloc", alloc);
        json.WriteNumber("TotalAlloc", totalAlloc);
        json.WriteNumber("Sys", Environment.WorkingSet);
        json.WriteNumber("HeapSys", committed);
        json.WriteNumber("NumGC", GC.CollectionCount(0));
        json.WriteNumber("PauseTotalNs", GC.GetTotalPauseDuration().Ticks * 100);
        json.WriteEndObject();

        json.WriteEndObject();
    }

    /// <summary>How many topics' and publishers' connections there are, and are up (of <paramref name="node"/>, or all).</summary>
    private static void WriteConnections(Utf8JsonWriter json, IReadOnlyList<ConnectionSlot> forStreams, IReadOnlyList<ConnectionSlot> publishers, string? node)
    {
        var streams = forStreams.Where(s => node is null || s.Node == node).ToList();
        var publishing = publishers.Where(s => node is null || s.Node == node).ToList();
        json.WriteNumber("streams_connections", streams.Count);
        json.WriteNumber("streams_connections_up", streams.Count(s => s.IsUp));
        json.WriteNumber("publisher_connections", publishing.Count);
        json.WriteNumber("publisher_connections_up", publishing.Count(s => s.IsUp));
    }
}
