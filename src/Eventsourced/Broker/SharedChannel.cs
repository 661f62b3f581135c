using RabbitMQ.Client;

namespace Eventsourced.Broker;

/// <summary>How a subscriber settles deliveries it holds.</summary>
internal enum Settlement
{
    /// <summary>basic.ack: done with.</summary>
    Ack,

    /// <summary>basic.nack with requeue: back to the queue, delivered again.</summary>
    Requeue,

    /// <summary>basic.reject without requeue: dropped (or dead-lettered) by the broker.</summary>
    Discard,
}

/// <summary>
/// An AMQP channel that carries the consumers of up to <c>broker.subscribers_per_channel</c> subscribers of one
/// connection (<see cref="ConnectionSlot.JoinSharedAsync"/>), each in a <see cref="Seat"/>.
/// </summary>
/// <remarks>
/// Delivery tags are per channel, and an acknowledgement with <c>multiple</c> settles every unsettled tag up to
/// it, whoever's it is; acknowledging a tag twice is a channel error that would end every stream on the channel.
/// So the channel keeps, for each seat, the tags delivered to it and not yet settled, and every settlement goes
/// through <see cref="Seat.SettleAsync"/>, which sends a <c>multiple</c> frame only where every unsettled tag it
/// covers is the seat's own, one frame per tag otherwise, and never a frame for a tag it no longer holds.
/// Written by hand: the client library has no notion of whose a delivery tag is.
/// </remarks>
internal sealed class SharedChannel
{
    private readonly object _tags = new();
    private readonly List<Seat> _seats = [];
    // Decisions and their frames in one order: a multiple-ack decided after a single ack of a lower tag must
    // not reach the broker before it (the single ack would then name a tag already settled).
    private readonly SemaphoreSlim _send = new(1, 1);

    public SharedChannel(IChannel channel, ushort prefetch)
    {
        Channel = channel;
        Prefetch = prefetch;
    }

    public IChannel Channel { get; }

    /// <summary>The per-consumer prefetch (basic.qos, global=false) set once on the channel, before any consume.</summary>
    public ushort Prefetch { get; }

    /// <summary>Seats taken, including those being opened; guarded by the owning slot.</summary>
    internal int Members { get; set; }

    /// <summary>A seat for one more consumer; its tags are tracked from its first delivery.</summary>
    public Seat Join()
    {
        var seat = new Seat(this);
        lock (_tags)
        {
            _seats.Add(seat);
        }

        return seat;
    }

    /// <summary>One subscriber's consumer on a <see cref="SharedChannel"/>, and the deliveries it holds.</summary>
    internal sealed class Seat
    {
        private readonly SharedChannel _owner;
        // Ascending: the channel's dispatcher hands deliveries over in tag order. Guarded by _owner._tags.
        private readonly List<ulong> _held = [];

        public Seat(SharedChannel owner) => _owner = owner;

        public IChannel Channel => _owner.Channel;

        /// <summary>Deliveries held (delivered, not yet settled).</summary>
        public int Held
        {
            get
            {
                lock (_owner._tags)
                {
                    return _held.Count;
                }
            }
        }

        /// <summary>
        /// Called by the consumer for every delivery, before anything can settle it. The dispatcher delivers in tag
        /// order, so by the time any seat settles tag T, every lower tag of every seat has been recorded.
        /// </summary>
        public void Delivered(ulong tag)
        {
            lock (_owner._tags)
            {
                _held.Add(tag);
            }
        }

        /// <summary>Settles <paramref name="tag"/> (with <paramref name="multiple"/>, every held tag up to it); tags not held are skipped.</summary>
        public async ValueTask SettleAsync(ulong tag, bool multiple, Settlement how)
        {
            await _owner._send.WaitAsync();
            try
            {
                ulong single;
                var asMultiple = false;
                ulong[]? tags = null;
                lock (_owner._tags)
                {
                    if (multiple)
                    {
                        var count = CountUpTo(tag);
                        if (count == 0)
                        {
                            return;
                        }

                        single = _held[count - 1];
                        if (count > 1)
                        {
                            // One frame for all of them only if no other seat holds a tag it would cover.
                            asMultiple = NoOtherSeatHoldsBelow(single);
                            tags = asMultiple ? null : _held.GetRange(0, count).ToArray();
                        }

                        _held.RemoveRange(0, count);
                    }
                    else
                    {
                        var index = _held.BinarySearch(tag);
                        if (index < 0)
                        {
                            return;
                        }

                        single = tag;
                        _held.RemoveAt(index);
                    }
                }

                // Not cancellable: the tags are no longer held, so a frame dropped half way would strand them
                // unacknowledged on a channel that may stay open for hours.
                if (tags is null)
                {
                    await SendAsync(single, asMultiple, how);
                }
                else
                {
                    foreach (var t in tags)
                    {
                        await SendAsync(t, multiple: false, how);
                    }
                }
            }
            finally
            {
                _owner._send.Release();
            }
        }

        /// <summary>Settles everything the seat holds (on leaving, after its consumer is cancelled: requeue).</summary>
        public ValueTask SettleAllAsync(Settlement how)
        {
            ulong last;
            lock (_owner._tags)
            {
                if (_held.Count == 0)
                {
                    return ValueTask.CompletedTask;
                }

                last = _held[^1];
            }

            return SettleAsync(last, multiple: true, how);
        }

        /// <summary>Gives the seat up; what it still holds is no longer tracked (settle it first).</summary>
        public void Leave()
        {
            lock (_owner._tags)
            {
                _owner._seats.Remove(this);
                _held.Clear();
            }
        }

        private int CountUpTo(ulong tag)
        {
            // Held tags are ascending and distinct: those up to `tag` are the ones before where it is or would be.
            var index = _held.BinarySearch(tag);
            return index >= 0 ? index + 1 : ~index;
        }

        private bool NoOtherSeatHoldsBelow(ulong tag)
        {
            foreach (var seat in _owner._seats)
            {
                if (!ReferenceEquals(seat, this) && seat._held.Count > 0 && seat._held[0] < tag)
                {
                    return false;
                }
            }

            return true;
        }

        private ValueTask SendAsync(ulong tag, bool multiple, Settlement how) => how switch
        {
            Settlement.Ack => Channel.BasicAckAsync(tag, multiple, CancellationToken.None),
            Settlement.Requeue => Channel.BasicNackAsync(tag, multiple, requeue: true, CancellationToken.None),
            _ when multiple => Channel.BasicNackAsync(tag, multiple: true, requeue: false, CancellationToken.None),
            _ => Channel.BasicRejectAsync(tag, requeue: false, CancellationToken.None),
        };
    }
}
