using Eventsourced.Naming;

namespace Eventsourced.Tests.Naming;

public sealed class QueuePatternTests
{
    [Fact]
    public void Parse_OriginalsDefault_IsOneQueryPlaceholder()
    {
        var pattern = QueuePattern.Parse("${query:id}");

        Assert.Equal([new PatternSegment(PatternSegmentKind.Query, "id")], pattern.Segments);
    }

    [Fact]
    public void Parse_LiteralsAndPlaceholders_KeepsTheirOrder()
    {
        var pattern = QueuePattern.Parse("queue-${query:id}-${cookie:sid}-name");

        Assert.Equal(
            [
                new PatternSegment(PatternSegmentKind.Literal, "queue-"),
                new PatternSegment(PatternSegmentKind.Query, "id"),
                new PatternSegment(PatternSegmentKind.Literal, "-"),
                new PatternSegment(PatternSegmentKind.Cookie, "sid"),
                new PatternSegment(PatternSegmentKind.Literal, "-name"),
            ],
            pattern.Segments);
    }

    [Fact]
    public void Parse_ClaimPlaceholder_IsAClaimSegment()
    {
        var pattern = QueuePattern.Parse("user-${claim:sub}");

        Assert.Equal([new PatternSegment(PatternSegmentKind.Literal, "user-"), new PatternSegment(PatternSegmentKind.Claim, "sub")], pattern.Segments);
        Assert.True(pattern.UsesClaims);
        Assert.False(QueuePattern.Parse("${query:id}").UsesClaims);
        Assert.Equal("user-${claim:sub}", pattern.ToString());
    }

    [Fact]
    public void Parse_Whitespace_IsRemovedEverywhere()
    {
        var pattern = QueuePattern.Parse(" queue - ${ query : id }\t-\nx ");

        Assert.Equal("queue-${query:id}-x", pattern.ToString());
        Assert.Equal(new PatternSegment(PatternSegmentKind.Query, "id"), pattern.Segments[1]);
    }

    [Theory]
    [InlineData("a$b$", "a$b$")]
    [InlineData("$${query:id}", "$|query:id")]
    [InlineData("cost-$5-}", "cost-$5-}")]
    public void Parse_DollarWithoutBrace_IsLiteral(string text, string expected)
    {
        var pattern = QueuePattern.Parse(text);

        var described = string.Join('|', pattern.Segments.Select(s => s.Kind == PatternSegmentKind.Literal ? s.Value : $"{s.Kind.ToString().ToLowerInvariant()}:{s.Value}"));
        Assert.Equal(expected, described);
    }

    [Theory]
    [InlineData("", "queue pattern is empty")]
    [InlineData(" \t\n", "queue pattern is empty")]
    [InlineData("q-${query:id", "unclosed '${' in '${query:id'")]
    [InlineData("${query:a${cookie:b}", "unclosed '${' in '${query:a${cookie:b}'")]
    [InlineData("${header:x}", "unknown source 'header' in '${header:x}' (use ${query:NAME}, ${cookie:NAME} or ${claim:NAME})")]
    [InlineData("${Query:x}", "unknown source 'Query' in '${Query:x}' (use ${query:NAME}, ${cookie:NAME} or ${claim:NAME})")]
    [InlineData("${:x}", "unknown source '' in '${:x}' (use ${query:NAME}, ${cookie:NAME} or ${claim:NAME})")]
    [InlineData("${query:}", "empty name in '${query:}'")]
    [InlineData("${cookie}", "empty name in '${cookie}'")]
    [InlineData("amq.${query:id}", "queue names starting with 'amq.' are reserved by the broker")]
    [InlineData("q.${query:access_token}", "'${query:access_token}' reads the subscriber's token (auth.from_query): names built from it would carry tokens into the broker and the log; build them from its claims (${claim:sub})")]
    [InlineData("q.${query:Access_Token}", "'${query:Access_Token}' reads the subscriber's token (auth.from_query): names built from it would carry tokens into the broker and the log; build them from its claims (${claim:sub})")]
    [InlineData("eventsourced.lock.${query:id}", "queue names starting with 'eventsourced.lock.' are reserved for the gateway's lock queues")]
    [InlineData("u${claim:sub}${query:x}", "'${claim:sub}' stands next to '${query:x}' with nothing between them: two tokens could build the same name; put a separator between them that no value of the claim contains ('.', ':', '-')")]
    [InlineData("${cookie:c}${claim:sub}", "'${claim:sub}' stands next to '${cookie:c}' with nothing between them: two tokens could build the same name; put a separator between them that no value of the claim contains ('.', ':', '-')")]
    [InlineData("u.${claim:sub}x${query:x}", "'${claim:sub}' stands next to '${query:x}' with only 'x' between them: two tokens could build the same name; put a separator between them that no value of the claim contains ('.', ':', '-')")]
    [InlineData("t.${claim:tenant}${claim:sub}", "'${claim:tenant}' stands next to '${claim:sub}' with nothing between them: two tokens could build the same name; put a separator between them that no value of the claim contains ('.', ':', '-')")]
    public void Parse_Invalid_ThrowsFormatExceptionWithShortMessage(string text, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => QueuePattern.Parse(text));

        Assert.Equal(expected, ex.Message);
    }

    [Theory]
    [InlineData("${query:id}")]
    [InlineData("q.${cookie:sid}.${query:tab}")]
    [InlineData("literal-only")]
    public void ToString_ParsedAgain_GivesTheSameSegments(string text)
    {
        var pattern = QueuePattern.Parse(text);

        Assert.Equal(text, pattern.ToString());
        Assert.Equal(pattern.Segments, QueuePattern.Parse(pattern.ToString()).Segments);
    }

    [Theory]
    [InlineData("push.${query:id}", "push.42", true)]
    [InlineData("push.${query:id}", "push.", true)] // an empty value is counted as possible: on the safe side
    [InlineData("push.${query:id}", "pull.42", false)]
    [InlineData("push.${query:id}", "push", false)]
    [InlineData("${query:a}.${cookie:b}", "x.y", true)]
    [InlineData("${query:a}.${cookie:b}", "xy", false)]
    [InlineData("user.${claim:sub}.inbox", "user.a.b.inbox", true)]
    [InlineData("user.${claim:sub}.inbox", "user.a.inbox.x", false)]
    [InlineData("a*b${query:id}", "a*bc", true)] // a '*' of the pattern's own text is only itself
    [InlineData("a*b${query:id}", "axxbc", false)]
    [InlineData("fixed", "fixed", true)]
    [InlineData("fixed", "fixed2", false)]
    [InlineData("${query:id}", "anything at all", true)]
    public void CouldName_LiteralTextWhereItStands_AnyRunForAPlaceholder(string pattern, string name, bool could) =>
        Assert.Equal(could, QueuePattern.Parse(pattern).CouldName(name));

    [Fact]
    public void CouldName_ManyPlaceholdersAndALongName_AnswersAtOnce()
    {
        // Backtracking into every placeholder would take 250^5 steps; the glob match takes at most 250^2.
        var pattern = QueuePattern.Parse("${query:a}x${query:b}x${query:c}x${query:d}x${query:e}y");
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(pattern.CouldName(new string('x', 250)));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), stopwatch.Elapsed.ToString());
    }

    [Theory]
    [InlineData("${query:id}", false)]
    [InlineData("${query:id}${cookie:sid}", false)]
    [InlineData("q.${query:id}", true)]
    public void HasLiteralText_OnlyWithTextOfItsOwn(string pattern, bool has) =>
        Assert.Equal(has, QueuePattern.Parse(pattern).HasLiteralText);
}
