using Eventsourced.Bench.Sse;

namespace Eventsourced.Bench.Scenarios;

/// <summary>The failures every scenario looks for in its streams, as report lines.</summary>
internal static class StreamChecks
{
    /// <summary>Streams that did not open (with the most frequent reasons) or that the gateway ended.</summary>
    public static void Opening(StreamSet set, List<string> failures, bool endingIsFailure = true)
    {
        var notStreaming = set.Streams.Count(s => !s.IsStreaming);
        if (notStreaming > 0)
        {
            failures.Add($"{BenchContext.N(notStreaming)} of {BenchContext.N(set.Streams.Length)} streams not streaming ({string.Join(", ", set.FailureReasons())})");
        }

        if (endingIsFailure && set.EndedEarly > 0)
        {
            var reasons = set.Streams.Where(s => s.IsStreaming && s.End is not (StreamEnd.None or StreamEnd.ClosedByUs))
                .GroupBy(s => s.Reason ?? s.End.ToString()).Select(g => $"{g.Count()} x {g.Key}");
            failures.Add($"{BenchContext.N(set.EndedEarly)} streams ended by the gateway ({string.Join(", ", reasons)})");
        }
    }

    /// <summary>Wrong, repeated and missing events, against the number each stream should have received.</summary>
    public static void Delivery(IEnumerable<SseStream> streams, Func<SseStream, long> expected, List<string> failures)
    {
        long duplicates = 0, gaps = 0, misrouted = 0, malformed = 0, missing = 0, incomplete = 0;
        foreach (var s in streams)
        {
            var received = s.Received;
            duplicates += received.Duplicates;
            gaps += received.Gaps;
            misrouted += received.Misrouted;
            malformed += received.Malformed;
            var want = expected(s);
            if (received.NextSeq < want)
            {
                incomplete++;
                missing += want - received.NextSeq;
            }
        }

        Add(failures, gaps, "out-of-order or skipped sequence numbers");
        Add(failures, duplicates, "duplicated deliveries");
        Add(failures, misrouted, "deliveries of another queue's message");
        Add(failures, malformed, "events that are not the published payload");
        if (incomplete > 0)
        {
            failures.Add($"{BenchContext.N(incomplete)} incomplete streams, {BenchContext.N(missing)} messages missing");
        }
    }

    private static void Add(List<string> failures, long count, string what)
    {
        if (count > 0)
        {
            failures.Add($"{BenchContext.N(count)} {what}");
        }
    }
}
