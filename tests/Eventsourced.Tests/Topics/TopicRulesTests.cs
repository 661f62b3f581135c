using Eventsourced.Broker;
using Eventsourced.Topics;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Topics;

public sealed class TopicRulesTests
{
    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("*", "", true)]
    [InlineData("news.*", "news.sport", true)]
    [InlineData("news.*", "news.", true)]
    [InlineData("news.*", "news", false)]
    [InlineData("*.eu", "prices.eu", true)]
    [InlineData("*.eu", "prices.eu.x", false)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("room-*-chat", "room-7-chat", true)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "Exact", false)]
    public void Matches_Star_IsAnyRun(string pattern, string name, bool matches) =>
        Assert.Equal(matches, TopicNamePattern.Matches(pattern, name));

    [Theory]
    [InlineData("", 0L)]
    [InlineData("0", 0L)]
    [InlineData("123", 123L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("1GB", 1_000_000_000L)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("10 kB", 10_000L)]
    [InlineData("64KiB", 65_536L)]
    public void ByteSize_Valid(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("1.5GB")]
    [InlineData("GB")]
    [InlineData("-1")]
    [InlineData("5 gigabytes")]
    [InlineData("99999999999TB")]
    public void ByteSize_Invalid(string text) => Assert.NotNull(ByteSize.Check(text));

    [Theory]
    [InlineData("", true)]
    [InlineData("1D", true)]
    [InlineData("12h", true)]
    [InlineData("7Y", true)]
    [InlineData("30s", true)]
    [InlineData("0D", false)]
    [InlineData("D", false)]
    [InlineData("1d", false)]
    [InlineData("1.5h", false)]
    public void MaxAge_IsRabbitMqsSyntax(string age, bool valid) => Assert.Equal(valid, StreamMaxAge.Check(age) is null);

    [Theory]
    [InlineData("", true)]
    [InlineData("/topics/", true)]
    [InlineData("/t/", true)]
    [InlineData("/topics", false)]
    [InlineData("topics/", false)]
    [InlineData("/{x}/", false)]
    public void TopicsPath_EmptyOrEndingInSlash(string path, bool valid) => Assert.Equal(valid, TopicsPath.Check(path) is null);

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("17", null, 17L)]
    [InlineData(null, "17", 17L)]
    [InlineData("3", "17", 3L)]
    [InlineData(" 5 ", null, 5L)]
    [InlineData("", "9", 9L)]
    [InlineData("earliest", null, -1L)]
    [InlineData(null, "earliest", -1L)]
    public void ResumePoint_HeaderElseParameter(string? header, string? parameter, long? after)
    {
        var context = new DefaultHttpContext();
        if (header is not null)
        {
            context.Request.Headers["Last-Event-ID"] = header;
        }

        if (parameter is not null)
        {
            context.Request.QueryString = QueryString.Create("lastEventId", parameter);
        }

        Assert.True(TopicTarget.TryResumePoint(context.Request, out var resumeAfter, out _));
        Assert.Equal(after, resumeAfter);
    }

    [Theory]
    [InlineData("x", "Last-Event-ID must be the id of one of the topic's events (a number) or earliest, got 'x'")]
    [InlineData("99999999999999999999", "Last-Event-ID must be the id of one of the topic's events (a number) or earliest, got '99999999999999999999'")]
    [InlineData("Earliest", "Last-Event-ID must be the id of one of the topic's events (a number) or earliest, got 'Earliest'")]
    [InlineData("1e3", "Last-Event-ID must be the id of one of the topic's events (a number) or earliest, got '1e3'")]
    public void ResumePoint_NotAnOffset_IsRefused(string header, string reason)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers["Last-Event-ID"] = header;

        Assert.False(TopicTarget.TryResumePoint(context.Request, out _, out var why));
        Assert.Equal(reason, why);
    }

    /// <summary>Two ids were read as one text, "5,6", and refused as no id; they are refused as given twice, as every input.</summary>
    [Theory]
    [InlineData("?lastEventId=5&lastEventId=6", null, "query parameter 'lastEventId' given more than once")]
    [InlineData("?lastEventId=5&LASTEVENTID=5", null, "query parameter 'lastEventId' given more than once")]
    [InlineData("", new[] { "5", "6" }, "header 'Last-Event-ID' given more than once")]
    public void ResumePoint_GivenTwice_IsRefusedAsGivenTwice(string query, string[]? headers, string reason)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        if (headers is not null)
        {
            context.Request.Headers["Last-Event-ID"] = headers;
        }

        Assert.False(TopicTarget.TryResumePoint(context.Request, out _, out var why));
        Assert.Equal(reason, why);
    }

    [Theory]
    [InlineData("amqp://h/", 233)]
    [InlineData("amqp://h", 233)]
    [InlineData("amqp://h/production", 224)]
    public void MaxStreamName_LeavesRoomForTheVhostAndTimestampInTheDirectoryName(string url, int bytes) =>
        Assert.Equal(bytes, TopicHub.MaxStreamName([BrokerUrl.Parse(url)]));
}
