using Eventsourced.Consuming;

namespace Eventsourced.Tests.Consuming;

public sealed class QueueSubscriptionTests
{
    /// <summary>
    /// A classic queue whose home node is down is refused by RabbitMQ with 404 and these words (3.10 to 3.13): the
    /// subscriber learns that the queue's node is down (it comes back with the node), without the node's name.
    /// </summary>
    [Theory]
    [InlineData("NOT_FOUND - home node 'rabbit@rabbit-2' of durable queue '42' in vhost '/' is down or inaccessible")]
    [InlineData("NOT_FOUND - home node 'es-ops-2@localhost' of durable queue 'user-7' in vhost 'push' is down or inaccessible")]
    public void HomeNodeDown_SaysTheQueuesNodeIsDown_WithoutItsName(string replyText)
    {
        var reason = QueueSubscription.ClientReasonFor(404, replyText);

        Assert.Equal("broker refused the subscription: the queue's broker node is down", reason);
        Assert.DoesNotContain("rabbit", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("@", reason, StringComparison.Ordinal);
    }

    /// <summary>Any other refusal stays the plain one: a missing exchange, a permission, an unexpected reply.</summary>
    [Theory]
    [InlineData(404, "NOT_FOUND - no exchange 'push' in vhost '/'")]
    [InlineData(403, "ACCESS_REFUSED - access to queue '42' in vhost '/' refused for user 'app'")]
    [InlineData(406, "PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue '42' in vhost '/'")]
    [InlineData(541, "INTERNAL_ERROR - home node is down or inaccessible")]
    [InlineData(404, null)]
    public void OtherRefusals_StayPlain(int replyCode, string? replyText)
    {
        Assert.Equal("broker refused the subscription", QueueSubscription.ClientReasonFor((ushort)replyCode, replyText));
    }

    /// <summary>
    /// A call the broker left unanswered until the client library gave up (seen with two of three nodes of a cluster
    /// stopped: every quorum subscribe waited 21 s) is logged as such, naming the node, not as the exception's own
    /// "A task was canceled.", which read as a refusal by the broker.
    /// </summary>
    [Fact]
    public void Unanswered_SaysNoAnswerFromTheNode()
    {
        var canceled = QueueSubscription.RefusedLogReason(new TaskCanceledException(), "127.0.0.1:5731");
        var timedOut = QueueSubscription.RefusedLogReason(new TimeoutException("The operation has timed out."), null);

        Assert.StartsWith("broker refused the subscription: no answer from 127.0.0.1:5731 in time (TaskCanceledException;", canceled, StringComparison.Ordinal);
        Assert.DoesNotContain("A task was canceled", canceled, StringComparison.Ordinal);
        Assert.StartsWith("broker refused the subscription: no answer from the broker in time (TimeoutException;", timedOut, StringComparison.Ordinal);
    }

    /// <summary>A refusal keeps the broker's reply code and text.</summary>
    [Fact]
    public void Refusal_KeepsTheBrokersReply()
    {
        var refused = new RabbitMQ.Client.Exceptions.OperationInterruptedException(
            new RabbitMQ.Client.Events.ShutdownEventArgs(RabbitMQ.Client.ShutdownInitiator.Peer, 403, "ACCESS_REFUSED - no"));

        Assert.Equal("broker refused the subscription: 403 ACCESS_REFUSED - no", QueueSubscription.RefusedLogReason(refused, "127.0.0.1:5731"));
    }
}
