namespace Eventsourced.Acknowledging;

/// <summary>What a client's acknowledgement of a delivery comes to.</summary>
internal enum ClientAck
{
    /// <summary>Acknowledge to the broker: the tag given, with multiple as given.</summary>
    Acknowledged,

    /// <summary>A cumulative acknowledgement that covers nothing still outstanding: nothing to do.</summary>
    NothingOutstanding,

    /// <summary>Never sent to this client, already acknowledged, or given back after the acknowledgement timeout.</summary>
    Unknown,
}

/// <summary>
/// The deliveries a client acknowledges itself (a WebSocket opened with <c>acks=client</c>): sent to the
/// client and not yet acknowledged by it, in the order they were sent, each with its deadline. It turns the
/// client's acknowledgements into broker acknowledgements that can never name a tag the broker no longer
/// holds (a multiple-ack whose own tag was already acknowledged is a channel error, 406 "unknown delivery
/// tag", that would end the subscription), and hands out what is overdue to be given back to the queue.
/// Every delivery of the channel up to the last one sent was sent to the client, in tag order; each stays
/// here until it is acknowledged or given back. So the broker's unacknowledged tags up to the last one
/// sent are exactly the ones here, and a broker multiple-ack or -nack at an outstanding tag covers exactly
/// the outstanding tags up to it. Deadlines grow with the tags (one timeout, sent in tag order), so
/// the overdue deliveries are always a prefix. They are given back only once the oldest outstanding delivery has
/// also waited the timeout since the client last acknowledged the oldest outstanding one (made progress): a client that works through a backlog one by one, slower than the timeout allows for all of it, keeps
/// acknowledging and is not sent it again (which would make it fall further behind, for ever), while one that makes
/// no progress for the timeout gets back everything overdue. Progress defers a delivery for at most
/// <see cref="LongestWait"/> since it was sent (or the timeout, if longer): RabbitMQ closes a channel that holds a delivery
/// unacknowledged past its <c>consumer_timeout</c> (30 minutes by default), which with shared channels would end other
/// streams too. Not thread-safe: the transport's writer owns it.
/// </summary>
internal sealed class ClientAcknowledgements(TimeSpan timeout, TimeProvider time)
{
    private readonly List<(ulong Tag, long Deadline)> _outstanding = [];
    private readonly long _timeoutTicks = (long)(timeout.TotalSeconds * time.TimestampFrequency);

    /// <summary>How long the client's progress may keep a delivery from going back, counted from when it was sent.</summary>
    internal static readonly TimeSpan LongestWait = TimeSpan.FromMinutes(20);

    // What progress may add to a delivery's deadline: the longest wait less the timeout, none when the timeout is longer.
    private readonly long _deferralTicks = Math.Max(0, (long)((LongestWait - timeout).TotalSeconds * time.TimestampFrequency));
    private ulong _lastSent;

    // When the client last acknowledged the oldest outstanding delivery (or every one up to it): its last progress.
    private long _oldestSince;

    /// <summary>Deliveries sent and not yet acknowledged or given back.</summary>
    public int Count => _outstanding.Count;

    /// <summary>When the oldest outstanding delivery falls due (a <see cref="TimeProvider"/> timestamp), or null with none outstanding.</summary>
    public long? NextDeadline => _outstanding.Count > 0
        ? Math.Min(Math.Max(_outstanding[0].Deadline, _oldestSince + _timeoutTicks), _outstanding[0].Deadline + _deferralTicks)
        : null;

    /// <summary>The delivery <paramref name="tag"/> was sent to the client at <paramref name="now"/> (a <see cref="TimeProvider"/> timestamp).</summary>
    public void Sent(ulong tag, long now)
    {
        if (tag <= _lastSent)
        {
            throw new InvalidOperationException($"delivery {tag} sent after {_lastSent}: deliveries are sent in tag order");
        }

        _lastSent = tag;
        _outstanding.Add((tag, now + _timeoutTicks));
    }

    /// <summary>
    /// The client acknowledged <paramref name="tag"/> (with <paramref name="multiple"/>, every delivery up to
    /// it). On <see cref="ClientAck.Acknowledged"/>, acknowledge <paramref name="brokerTag"/> to the broker
    /// with <paramref name="brokerMultiple"/>.
    /// </summary>
    public ClientAck Acknowledge(ulong tag, bool multiple, out ulong brokerTag, out bool brokerMultiple)
    {
        brokerTag = 0;
        brokerMultiple = false;
        if (tag == 0 || tag > _lastSent)
        {
            return ClientAck.Unknown;
        }

        var index = IndexOf(tag);
        if (!multiple)
        {
            if (index < 0)
            {
                return ClientAck.Unknown;
            }

            brokerTag = tag;
            _outstanding.RemoveAt(index);
            if (index == 0)
            {
                _oldestSince = time.GetTimestamp();
            }

            return ClientAck.Acknowledged;
        }

        // Outstanding deliveries up to and including tag: a prefix of the list.
        var covered = index >= 0 ? index + 1 : ~index;
        if (covered == 0)
        {
            return ClientAck.NothingOutstanding;
        }

        brokerTag = _outstanding[covered - 1].Tag;
        brokerMultiple = true;
        _outstanding.RemoveRange(0, covered);
        _oldestSince = time.GetTimestamp();
        return ClientAck.Acknowledged;
    }

    /// <summary>
    /// Takes the deliveries whose deadline has passed at <paramref name="now"/>: give them back with a
    /// broker multiple-nack at the returned tag (0: none is overdue). <paramref name="count"/> says how many.
    /// </summary>
    public ulong TakeOverdue(long now, out int count)
    {
        count = 0;
        if (_outstanding.Count == 0 || (_oldestSince + _timeoutTicks > now && _outstanding[0].Deadline + _deferralTicks > now))
        {
            // The client acknowledged the deliveries before the oldest within the timeout: it is making progress (and
            // the oldest has not waited the longest a delivery may).
            return 0;
        }

        while (count < _outstanding.Count && _outstanding[count].Deadline <= now)
        {
            count++;
        }

        if (count == 0)
        {
            return 0;
        }

        var tag = _outstanding[count - 1].Tag;
        _outstanding.RemoveRange(0, count);
        return tag;
    }

    /// <summary>The index of <paramref name="tag"/>, or the bitwise complement of where it would go.</summary>
    private int IndexOf(ulong tag)
    {
        int low = 0, high = _outstanding.Count - 1;
        while (low <= high)
        {
            var mid = low + ((high - low) / 2);
            var value = _outstanding[mid].Tag;
            if (value == tag)
            {
                return mid;
            }

            if (value < tag)
            {
                low = mid + 1;
            }
            else
            {
                high = mid - 1;
            }
        }

        return ~low;
    }
}
