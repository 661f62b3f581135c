using Eventsourced.Acknowledging;
using Microsoft.Extensions.Time.Testing;

namespace Eventsourced.Tests.Acknowledging;

public sealed class ClientAcknowledgementsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Acknowledge_OneOutstanding_AcknowledgesJustThatTag()
    {
        var acks = Sent(1, 2, 3);

        Assert.Equal(ClientAck.Acknowledged, acks.Acknowledge(2, multiple: false, out var tag, out var multiple));

        Assert.Equal((2ul, false), (tag, multiple));
        Assert.Equal(2, acks.Count);
    }

    [Theory]
    [InlineData(0ul)]
    [InlineData(4ul)]
    [InlineData(99ul)]
    public void Acknowledge_NeverSent_IsUnknown(ulong id)
    {
        var acks = Sent(1, 2, 3);

        Assert.Equal(ClientAck.Unknown, acks.Acknowledge(id, multiple: false, out _, out _));
        Assert.Equal(ClientAck.Unknown, acks.Acknowledge(id, multiple: true, out _, out _));
        Assert.Equal(3, acks.Count);
    }

    [Fact]
    public void Acknowledge_Twice_IsUnknownTheSecondTime()
    {
        var acks = Sent(1, 2);
        acks.Acknowledge(1, multiple: false, out _, out _);

        Assert.Equal(ClientAck.Unknown, acks.Acknowledge(1, multiple: false, out _, out _));
    }

    [Fact]
    public void Cumulative_AtAnAlreadyAcknowledgedTag_AcknowledgesTheHighestOutstandingBelowIt()
    {
        // The broker refuses a multiple-ack whose own tag it no longer holds (406): the tag sent is 2, not 3.
        var acks = Sent(1, 2, 3, 4);
        acks.Acknowledge(3, multiple: false, out _, out _);

        Assert.Equal(ClientAck.Acknowledged, acks.Acknowledge(3, multiple: true, out var tag, out var multiple));

        Assert.Equal((2ul, true), (tag, multiple));
        Assert.Equal(1, acks.Count);
        Assert.Equal(ClientAck.Acknowledged, acks.Acknowledge(4, multiple: false, out _, out _));
    }

    [Fact]
    public void Cumulative_CoveringNothingOutstanding_IsNothingToDo()
    {
        var acks = Sent(1, 2, 3);
        acks.Acknowledge(2, multiple: true, out _, out _);

        Assert.Equal(ClientAck.NothingOutstanding, acks.Acknowledge(2, multiple: true, out _, out _));
        Assert.Equal(ClientAck.NothingOutstanding, acks.Acknowledge(1, multiple: true, out _, out _));
        Assert.Equal(1, acks.Count);
    }

    [Fact]
    public void TakeOverdue_TakesTheOldestPastTheirDeadline_AsOneMultipleNack()
    {
        var acks = new ClientAcknowledgements(Timeout, _time);
        acks.Sent(1, _time.GetTimestamp());
        acks.Sent(2, _time.GetTimestamp());
        _time.Advance(TimeSpan.FromSeconds(10));
        acks.Sent(3, _time.GetTimestamp());
        acks.Acknowledge(2, multiple: false, out _, out _);

        _time.Advance(TimeSpan.FromSeconds(20) - TimeSpan.FromTicks(1));
        Assert.Equal(0ul, acks.TakeOverdue(_time.GetTimestamp(), out var none));
        Assert.Equal(0, none);

        _time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal(1ul, acks.TakeOverdue(_time.GetTimestamp(), out var count));
        Assert.Equal(1, count);
        Assert.Equal(_time.GetTimestamp() + (long)(TimeSpan.FromSeconds(10).TotalSeconds * _time.TimestampFrequency), acks.NextDeadline);

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(3ul, acks.TakeOverdue(_time.GetTimestamp(), out count));
        Assert.Equal(1, count);
        Assert.Null(acks.NextDeadline);
        Assert.Equal(ClientAck.Unknown, acks.Acknowledge(3, multiple: false, out _, out _));
    }

    [Fact]
    public void TakeOverdue_AClientWorkingThroughABacklog_IsNotSentItAgain_WhileItKeepsAcknowledgingTheOldest()
    {
        // 20 deliveries at once, each taking the client 5 s: the last is acknowledged 100 s after it was sent. Given back
        // at 30 s, the client would meet each one again after its backlog, past its deadline again: never done.
        var acks = new ClientAcknowledgements(Timeout, _time);
        for (ulong tag = 1; tag <= 20; tag++)
        {
            acks.Sent(tag, _time.GetTimestamp());
        }

        for (ulong tag = 1; tag <= 20; tag++)
        {
            _time.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(0ul, acks.TakeOverdue(_time.GetTimestamp(), out _));
            Assert.Equal(ClientAck.Acknowledged, acks.Acknowledge(tag, multiple: false, out var brokerTag, out _));
            Assert.Equal(tag, brokerTag);
        }

        Assert.Null(acks.NextDeadline);
    }

    [Fact]
    public void TakeOverdue_AClientThatStopsAcknowledging_GetsBackWhatIsOverdue_TheTimeoutAfterItsLastProgress()
    {
        var acks = Sent(1, 2, 3);
        _time.Advance(TimeSpan.FromSeconds(20));
        acks.Acknowledge(1, multiple: false, out _, out _);

        // 2 and 3 are past their deadline (sent 30 s ago), but the client acknowledged the oldest 10 s ago.
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0ul, acks.TakeOverdue(_time.GetTimestamp(), out _));
        Assert.Equal(_time.GetTimestamp() + (long)(TimeSpan.FromSeconds(20).TotalSeconds * _time.TimestampFrequency), acks.NextDeadline);

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(3ul, acks.TakeOverdue(_time.GetTimestamp(), out var count));
        Assert.Equal(2, count);
    }

    [Fact]
    public void TakeOverdue_ProgressDefersADelivery_NoLongerThanTheLongestWait()
    {
        // A client acknowledging one delivery every 25 s out of a backlog of 100: the deliveries still waiting go back once
        // the oldest of them has waited 20 minutes, well before RabbitMQ's consumer_timeout would close the channel.
        var acks = new ClientAcknowledgements(Timeout, _time);
        var sent = _time.GetTimestamp();
        for (ulong tag = 1; tag <= 100; tag++)
        {
            acks.Sent(tag, sent);
        }

        ulong next = 1;
        while (_time.GetTimestamp() - sent < (long)(ClientAcknowledgements.LongestWait.TotalSeconds * _time.TimestampFrequency) - (long)(25 * _time.TimestampFrequency))
        {
            _time.Advance(TimeSpan.FromSeconds(25));
            Assert.Equal(0ul, acks.TakeOverdue(_time.GetTimestamp(), out _));
            acks.Acknowledge(next++, multiple: false, out _, out _);
        }

        Assert.Equal(sent + (long)(ClientAcknowledgements.LongestWait.TotalSeconds * _time.TimestampFrequency), acks.NextDeadline);
        _time.Advance(TimeSpan.FromSeconds(25));
        Assert.Equal(100ul, acks.TakeOverdue(_time.GetTimestamp(), out var count));
        Assert.Equal(100 - (int)next + 1, count);
    }

    [Fact]
    public void TakeOverdue_AnAcknowledgementOfANewerDelivery_IsNoProgressOnTheOldest()
    {
        // A client that skips one delivery (lost it, or failed on it) but acknowledges later ones: the skipped one goes back on time.
        var acks = Sent(1, 2);
        _time.Advance(TimeSpan.FromSeconds(29));
        acks.Acknowledge(2, multiple: false, out _, out _);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1ul, acks.TakeOverdue(_time.GetTimestamp(), out var count));
        Assert.Equal(1, count);
    }

    [Fact]
    public void Sent_OutOfTagOrder_Throws()
    {
        var acks = Sent(5);

        Assert.Throws<InvalidOperationException>(() => acks.Sent(5, 0));
    }

    private ClientAcknowledgements Sent(params ulong[] tags)
    {
        var acks = new ClientAcknowledgements(Timeout, _time);
        foreach (var tag in tags)
        {
            acks.Sent(tag, _time.GetTimestamp());
        }

        return acks;
    }
}
