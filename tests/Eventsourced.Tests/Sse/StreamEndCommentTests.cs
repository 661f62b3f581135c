using System.Text;
using Eventsourced.Consuming;
using Eventsourced.Sse;

namespace Eventsourced.Tests.Sse;

public sealed class StreamEndCommentTests
{
    /// <summary>Every end the gateway decides carries a comment; a client that left or a failed write gets none (nobody reads it).</summary>
    [Theory]
    [InlineData(nameof(SubscriptionEndReason.Shutdown), "gateway shutting down")]
    [InlineData(nameof(SubscriptionEndReason.ConsumerCancelled), "queue deleted")]
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
    public void ClientSideEnds_CarryNone(string reason) => Assert.Null(StreamEndComment.For(Enum.Parse<SubscriptionEndReason>(reason)));
}
