using System.Text;
using Eventsourced.Consuming;
using Eventsourced.Sse;

namespace Eventsourced.Tests.Sse;

public sealed class StreamEndCommentTests
{
    /// <summary>Every end the gateway decides carries a comment; a client that left or a failed write gets none (nobody reads it).</summary>
    [Theory]
    [InlineData(nameof(SubscriptionEndReason.Shutdown), "gateway shutting down")]
    [InlineData(nameof(SubscriptionEndReason.ConsumerCancelled), "queue deleted, or its node down")]
    [InlineData(nameof(SubscriptionEndReason.ChannelClosed), "broker closed")]
    [InlineData(nameof(SubscriptionEndReason.WriteTimeout), "write timeout")]
    [InlineData(nameof(SubscriptionEndReason.BufferOverflow), "prefetch")]
    [InlineData(nameof(SubscriptionEndReason.TokenExpired), "token expired")]
    [InlineData(nameof(SubscriptionEndReason.SlowReader), "too slow")]
    [InlineData(nameof(SubscriptionEndReason.BrokerConnectionLost), "broker connection lost")]
    public void GatewayEnds_CarryAComment(string reason, string says)
    {
        var text = Encoding.UTF8.GetString(StreamEndComment.For(Enum.Parse<SubscriptionEndReason>(reason))!);
        Assert.StartsWith(": ", text, StringComparison.Ordinal);
        Assert.EndsWith("\n\n", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Count(c => c == '\n'));
        Assert.Contains(says, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(SubscriptionEndReason.ClientGone))]
    [InlineData(nameof(SubscriptionEndReason.WriteFailed))]
    public void ClientSideEnds_CarryNone(string reason)
    {
        Assert.Null(StreamEndComment.For(Enum.Parse<SubscriptionEndReason>(reason)));
        Assert.Null(StreamEndComment.For(Enum.Parse<SubscriptionEndReason>(reason), "end"));
    }

    /// <summary><c>sse.end_event</c>: every end the gateway decides is also an event a page sees, its data saying why.</summary>
    [Theory]
    [InlineData(nameof(SubscriptionEndReason.TokenExpired), "token expired")]
    [InlineData(nameof(SubscriptionEndReason.Shutdown), "gateway shutting down")]
    [InlineData(nameof(SubscriptionEndReason.ConsumerCancelled), "broker cancelled the subscription (queue deleted, or its node down)")]
    [InlineData(nameof(SubscriptionEndReason.SlowReader), "client too slow for the topic (resume with Last-Event-ID)")]
    public void GatewayEnds_WithAnEndEvent_AreAnEventWhoseDataSaysWhy(string reason, string why)
    {
        var end = Enum.Parse<SubscriptionEndReason>(reason);
        Assert.Equal(StreamEndComment.For(end), StreamEndComment.For(end, ""));
        var bytes = StreamEndComment.For(end, "end")!;
        Assert.StartsWith(Encoding.UTF8.GetString(StreamEndComment.For(end)!), Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);

        var item = Assert.Single(System.Net.ServerSentEvents.SseParser.Create(new MemoryStream(bytes)).Enumerate());
        Assert.Equal(("end", why), (item.EventType, item.Data));
    }
}
