using System.Text;
using Eventsourced.Http;
using Eventsourced.Metrics;
using RabbitMQ.Client;

namespace Eventsourced.Tests.Metrics;

public sealed class MessageTimestampTests
{
    private const long Ms = 1_777_777_777_123;

    private static BasicProperties WithHeader(object? value) =>
        new() { Headers = new Dictionary<string, object?> { [MessageTimestamp.HeaderName] = value } };

    [Fact]
    public void From_NoTimestampAnywhere_IsNone() =>
        Assert.False(MessageTimestamp.From(new BasicProperties()).IsPresent);

    [Fact]
    public void From_AmqpTimestampOnly_IsWholeSeconds() =>
        Assert.Equal(1_777_777_777_000, MessageTimestamp.From(new BasicProperties { Timestamp = new AmqpTimestamp(1_777_777_777) }).UnixMilliseconds);

    [Fact]
    public void From_HeaderAndProperty_HeaderWins()
    {
        var properties = WithHeader(Ms);
        properties.Timestamp = new AmqpTimestamp(1_000_000_000);

        Assert.Equal(Ms, MessageTimestamp.From(properties).UnixMilliseconds);
    }

    public static TheoryData<object> HeaderValues() => new()
    {
        Ms,
        (ulong)Ms,
        (double)Ms,
        (decimal)Ms,
        Encoding.UTF8.GetBytes(Ms.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        $" {Ms} ",
    };

    [Theory]
    [MemberData(nameof(HeaderValues))]
    public void From_HeaderOfAnyNumericAmqpType_IsRead(object value) =>
        Assert.Equal(Ms, MessageTimestamp.From(WithHeader(value)).UnixMilliseconds);

    [Fact]
    public void From_SmallIntegerHeader_IsReadAsMilliseconds() =>
        Assert.Equal(1234, MessageTimestamp.From(WithHeader(1234)).UnixMilliseconds);

    [Theory]
    [InlineData("soon")]
    [InlineData(-5L)]
    [InlineData(0L)]
    [InlineData(double.NaN)]
    [InlineData(true)]
    public void From_UnusableHeader_FallsBackToTheProperty(object value)
    {
        var properties = WithHeader(value);
        properties.Timestamp = new AmqpTimestamp(1_700_000_000);

        Assert.Equal(1_700_000_000_000, MessageTimestamp.From(properties).UnixMilliseconds);
    }

    [Fact]
    public void From_NullHeaderWithoutProperty_IsNone() =>
        Assert.False(MessageTimestamp.From(WithHeader(null)).IsPresent);

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MaxValue / 1000)]
    public void FromSeconds_HugeValue_SaturatesInsteadOfOverflowing(long seconds) =>
        Assert.Equal(long.MaxValue, MessageTimestamp.FromSeconds(seconds).UnixMilliseconds);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void FromSeconds_ZeroOrNegative_IsNone(long seconds) =>
        Assert.False(MessageTimestamp.FromSeconds(seconds).IsPresent);
}
