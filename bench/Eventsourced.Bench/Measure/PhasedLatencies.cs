namespace Eventsourced.Bench.Measure;

/// <summary>
/// Latencies of one continuous publishing run, split by publish order: the first
/// <paramref name="warmupMessages"/> (message k goes to queue k mod N as its number k div N) are the
/// warm-up, recorded apart; the rest are the measurement.
/// </summary>
internal sealed class PhasedLatencies(int queues, long warmupMessages, long measuredMessages)
{
    public LatencyRecorder Warmup { get; } = new((int)Math.Min(int.MaxValue, warmupMessages + queues));

    public LatencyRecorder Measured { get; } = new((int)Math.Min(int.MaxValue, measuredMessages + queues));

    public long TotalMessages => warmupMessages + measuredMessages;

    public void Record(int queue, long seq, long sentAt, long receivedAt) =>
        ((seq * queues) + queue < warmupMessages ? Warmup : Measured).Record(sentAt, receivedAt);
}
