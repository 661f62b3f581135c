using Eventsourced.Broker;
using Eventsourced.Consuming;
using Eventsourced.Topics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Eventsourced.Tests.Topics;

public sealed class StreamFailoverTests
{
    private static OperationInterruptedException Refused(ushort code, string text, ShutdownInitiator initiator = ShutdownInitiator.Peer) =>
        new(new ShutdownEventArgs(initiator, code, text));

    private static SubscribeException BrokerError(Exception cause) => new(SubscribeFailure.BrokerError, "broker refused topic 't'", cause);

    public static TheoryData<string, Exception> Passing => new()
    {
        { "no replica on the local node", Refused(406, "PRECONDITION_FAILED - stream queue 'topic.t' in vhost '/' does not have a replica on the local node") },
        { "replica not running yet", Refused(506, "RESOURCE_ERROR - queue 'topic.t' in vhost '/' does not have a running local replica") },
        { "leader down", Refused(404, "NOT_FOUND - queue 'topic.t' in vhost '/' has its master replica on node 'x@h' which is down") },
        { "connection forced", Refused(320, "CONNECTION_FORCED - broker forced connection closure") },
        { "channel crash", Refused(541, "INTERNAL_ERROR") },
        { "socket lost", Refused(0, "End of stream", ShutdownInitiator.Library) },
        { "closed", new AlreadyClosedException(new ShutdownEventArgs(ShutdownInitiator.Library, 0, "closed")) },
        { "connection down", new BrokerUnavailableException("connection to 127.0.0.1:5672 is down") },
    };

    public static TheoryData<string, Exception> Staying => new()
    {
        { "access refused", Refused(403, "ACCESS_REFUSED - access to queue 'topic.t' refused") },
        { "no stream", Refused(406, "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 'topic.t' of queue type rabbit_classic_queue") },
        { "no answer", new TimeoutException() },
        { "cancelled", new OperationCanceledException() },
    };

    [Theory]
    [MemberData(nameof(Passing))]
    public void MayPass_RefusalOrLossAFailoverPasses_True(string what, Exception cause) =>
        Assert.True(StreamFailover.MayPass(BrokerError(cause)), what);

    [Theory]
    [MemberData(nameof(Staying))]
    public void MayPass_RefusalThatStays_False(string what, Exception cause) =>
        Assert.False(StreamFailover.MayPass(BrokerError(cause)), what);

    [Fact]
    public void MayPass_NotABrokerError_False()
    {
        var cause = Refused(406, "PRECONDITION_FAILED - stream queue 'topic.t' in vhost '/' does not have a replica on the local node");
        Assert.False(StreamFailover.MayPass(new SubscribeException(SubscribeFailure.BrokerUnavailable, "no broker connection is up", cause)));
        Assert.False(StreamFailover.MayPass(new SubscribeException(SubscribeFailure.Conflict, "'topic.t' is a queue, not a stream", cause)));
        Assert.False(StreamFailover.MayPass(new SubscribeException(SubscribeFailure.BrokerError, "its stream was still being created")));
    }
}
