using System.Text.RegularExpressions;

namespace Eventsourced.Tests.Documentation;

/// <summary>The README's links to its own sections (<c>[Topics](#topics)</c>, the "Coming from another push server" table's) lead to a heading.</summary>
public sealed partial class ReadmeLinkTests
{
    [Fact]
    public void Readme_EveryLinkToASection_NamesAHeading()
    {
        var readme = File.ReadAllText(RepositoryFile.Find("README.md"));
        var headings = HeadingPattern().Matches(readme).Select(m => Slug(m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);
        var links = LinkPattern().Matches(readme).Select(m => m.Groups[1].Value).Distinct().ToList();

        Assert.NotEmpty(links);
        Assert.All(links, link => Assert.True(headings.Contains(link), $"README links to #{link}, which no heading is"));
    }

    [Theory]
    [InlineData("Exchanges: private messages, broadcasts, follow", "exchanges-private-messages-broadcasts-follow")]
    [InlineData("Long-polling", "long-polling")]
    [InlineData("HTTPS and HTTP/2", "https-and-http2")]
    public void Slug_IsGitHubs(string heading, string expected) => Assert.Equal(expected, Slug(heading));

    /// <summary>GitHub's anchor for a heading: lower case, punctuation other than '-' and '_' dropped, spaces as '-'.</summary>
    private static string Slug(string heading) =>
        new string([.. heading.Trim().ToLowerInvariant().Where(c => char.IsLetterOrDigit(c) || c is '-' or '_' or ' ')]).Replace(' ', '-');

    [GeneratedRegex(@"^#{1,6} (.+)$", RegexOptions.Multiline)]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"\]\(#([^)]+)\)")]
    private static partial Regex LinkPattern();
}
