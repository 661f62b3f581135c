using System.Text;
using Eventsourced.Consuming;
using Eventsourced.Naming;

namespace Eventsourced.Tests.Consuming;

public sealed class QueueLockTests
{
    [Theory]
    [InlineData("42")]
    [InlineData("grüße")]
    [InlineData("amq.x")]
    public void NameFor_IsThePrefixAndTheHexSha256_82Bytes(string queue)
    {
        var name = QueueLock.NameFor(queue);

        Assert.StartsWith("eventsourced.lock.", name, StringComparison.Ordinal);
        Assert.Matches("^eventsourced\\.lock\\.[0-9a-f]{64}$", name);
        Assert.Equal(82, Encoding.UTF8.GetByteCount(name));
    }

    [Fact]
    public void NameFor_LongestQueueName_StillFitsTheBrokersLimit() =>
        Assert.Equal(82, Encoding.UTF8.GetByteCount(QueueLock.NameFor(new string('é', 127))));

    [Fact]
    public void NameFor_DifferentQueues_DifferentLocks_SameQueue_SameLock()
    {
        Assert.NotEqual(QueueLock.NameFor("a"), QueueLock.NameFor("b"));
        Assert.NotEqual(QueueLock.NameFor("a"), QueueLock.NameFor("A"));
        Assert.Equal(QueueLock.NameFor("a"), QueueLock.NameFor("a"));
    }

    [Fact]
    public void NameFor_NoPatternCanProduceALockName()
    {
        var resolver = new QueueNameResolver(QueuePattern.Parse("${query:id}"));
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.QueryString = new Microsoft.AspNetCore.Http.QueryString("?id=" + Uri.EscapeDataString(QueueLock.NameFor("42")));

        Assert.False(resolver.TryResolve(context.Request, out _, out var reason));
        Assert.Contains("eventsourced.lock.", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void QueueArguments_Quorum_AddsTheTypeAndKeepsExpiry()
    {
        var quorum = QueueSubscription.QueueArguments(new QueueOptions { Type = "Quorum", ExpiresSeconds = 60 });
        var classic = QueueSubscription.QueueArguments(new QueueOptions { ExpiresSeconds = 60 });

        Assert.Equal("quorum", quorum!["x-queue-type"]);
        Assert.Equal(60_000L, Convert.ToInt64(quorum["x-expires"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.False(classic!.ContainsKey("x-queue-type"));
        Assert.Null(QueueSubscription.QueueArguments(new QueueOptions { ExpiresSeconds = 0 }));
    }
}
