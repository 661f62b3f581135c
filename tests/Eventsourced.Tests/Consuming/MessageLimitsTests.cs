using Eventsourced.Consuming;
using Eventsourced.Tests.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Consuming;

public sealed class MessageLimitsTests
{
    private static MessageLimits Limits(int maxMessage, int maxBuffered) =>
        new(Options.Create(new QueueOptions { MaxMessageBytes = maxMessage, MaxBufferedBytes = maxBuffered }), new TestMetrics().Gateway, NullLogger<MessageLimits>.Instance);

    [Theory]
    [InlineData(1024 * 1024, 64 * 1024 * 1024, 64, 64)] // the defaults keep queue.prefetch
    [InlineData(16 * 1024 * 1024, 64 * 1024 * 1024, 64, 4)] // 10 MiB messages allowed: at most 4 in flight
    [InlineData(128 * 1024 * 1024, 64 * 1024 * 1024, 64, 1)] // never below one
    [InlineData(1024, 64 * 1024 * 1024, 10, 10)] // never above queue.prefetch
    public void Prefetch_KeepsTheMessagesInFlightWithinTheByteBound(int maxMessage, int maxBuffered, int configured, int expected) =>
        Assert.Equal(expected, Limits(maxMessage, maxBuffered).Prefetch(configured));

    [Fact]
    public void Rejected_IsCounted()
    {
        var metrics = new TestMetrics();
        var limits = new MessageLimits(Options.Create(new QueueOptions()), metrics.Gateway, NullLogger<MessageLimits>.Instance);

        limits.Rejected("q", 2_000_000);

        Assert.Contains("eventsourced_messages_rejected_total{reason=\"too_large\"} 1", metrics.Scrape().Text, StringComparison.Ordinal);
    }
}
