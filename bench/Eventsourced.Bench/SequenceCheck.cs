namespace Eventsourced.Bench;

/// <summary>
/// What the consumer of one queue has seen of its payloads: the next sequence number expected and every
/// way a delivery was wrong. Kept by each SSE stream and each plain consumer alike, so that both are
/// judged by the same rules.
/// </summary>
internal struct SequenceCheck
{
    /// <summary>The next sequence number expected: after a clean run, the number of messages received in order.</summary>
    public long NextSeq { get; private set; }

    /// <summary>Payloads whose sequence number was below the next one expected (delivered again).</summary>
    public long Duplicates { get; private set; }

    /// <summary>Sequence numbers skipped: a later message arrived before an earlier one, or one never came.</summary>
    public long Gaps { get; private set; }

    /// <summary>Payloads carrying another queue's index.</summary>
    public long Misrouted { get; private set; }

    /// <summary>Deliveries that are not a payload of this tool.</summary>
    public long Malformed { get; private set; }

    /// <summary>A check that continues one from an earlier connection: <paramref name="next"/> is expected first.</summary>
    public static SequenceCheck From(long next) => new() { NextSeq = next };

    /// <summary>
    /// Counts one delivery to the queue with index <paramref name="index"/>: <paramref name="valid"/> is false
    /// when it was not a payload; otherwise it carried <paramref name="queue"/> and <paramref name="seq"/>.
    /// True when it was a payload of this queue, in order or not.
    /// </summary>
    public bool Observe(int index, bool valid, int queue, long seq)
    {
        if (!valid)
        {
            Malformed++;
            return false;
        }

        if (queue != index)
        {
            Misrouted++;
            return false;
        }

        if (seq == NextSeq)
        {
            NextSeq++;
        }
        else if (seq < NextSeq)
        {
            Duplicates++;
        }
        else
        {
            Gaps += seq - NextSeq;
            NextSeq = seq + 1;
        }

        return true;
    }
}
