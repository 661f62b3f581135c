using System.Text;
using Eventsourced.WebSockets;

namespace Eventsourced.Tests.WebSockets;

public sealed class WebSocketRefusalTests
{
    [Theory]
    [InlineData("token expired", "", "token expired")]
    [InlineData("queue is already being consumed by another subscriber", "2", "queue is already being consumed by another subscriber; retry after 2 s")]
    public void CloseReason_IsTheReason_WithRetryAfterWhenGiven(string reason, string retryAfter, string expected) =>
        Assert.Equal(expected, WebSocketRefusal.CloseReason(reason, retryAfter));

    [Fact]
    public void CloseReason_LongerThanAFrameHolds_IsCutToFit_WithAnEllipsis()
    {
        var reason = "token does not permit reading queue '" + new string('q', 200) + "'";

        var close = WebSocketRefusal.CloseReason(reason, null);

        Assert.Equal(WebSocketRefusal.MaxReasonBytes, Encoding.UTF8.GetByteCount(close));
        Assert.EndsWith("qqq...", close, StringComparison.Ordinal);
        Assert.StartsWith("token does not permit reading queue 'qqq", close, StringComparison.Ordinal);
    }

    [Fact]
    public void CloseReason_LongerThanAFrameHolds_WithRetryAfter_CutsTheReason_AndKeepsWhenToTryAgain()
    {
        // A topic's name is up to 227 bytes: "broker refused topic 'NAME'" with a long one lost "; retry after 5 s", which
        // the README's reconnectWithBackoff reads from the reason's end.
        var reason = "broker refused topic '" + new string('t', 200) + "'";

        var close = WebSocketRefusal.CloseReason(reason, "5");

        Assert.Equal(WebSocketRefusal.MaxReasonBytes, Encoding.UTF8.GetByteCount(close));
        Assert.StartsWith("broker refused topic 'ttt", close, StringComparison.Ordinal);
        Assert.EndsWith("ttt...; retry after 5 s", close, StringComparison.Ordinal);
        Assert.Matches("retry after (\\d+) s$", close);
    }

    [Fact]
    public void CloseReason_NeverCutsACharacterInTwo()
    {
        // 4-byte characters (surrogate pairs in .NET) and 2-byte ones: the cut lands between characters.
        var reason = "queue '" + string.Concat(Enumerable.Repeat("🎉é", 60)) + "'";

        var close = WebSocketRefusal.CloseReason(reason, "5");

        Assert.True(Encoding.UTF8.GetByteCount(close) <= WebSocketRefusal.MaxReasonBytes);
        Assert.EndsWith("...; retry after 5 s", close, StringComparison.Ordinal);
        var kept = close[..^"...; retry after 5 s".Length];
        Assert.False(char.IsHighSurrogate(kept[^1]), "a surrogate pair was cut");
        Assert.Equal(kept, new UTF8Encoding(false, true).GetString(Encoding.UTF8.GetBytes(kept)));
    }
}
