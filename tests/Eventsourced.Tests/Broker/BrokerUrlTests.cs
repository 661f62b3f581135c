using Eventsourced.Broker;

namespace Eventsourced.Tests.Broker;

public sealed class BrokerUrlTests
{
    private const string Secret = "s3cr3t-Pw";

    [Fact]
    public void Parse_FullUrl_ReadsEveryPartDecoded()
    {
        var url = BrokerUrl.Parse("amqps://us%20er:p%40ss@rabbit.example:5673/my%2Fvhost");

        Assert.True(url.IsTls);
        Assert.Equal(("rabbit.example", 5673), (url.Host, url.Port));
        Assert.Equal("my/vhost", url.VirtualHost);
        Assert.Equal(("us er", "p@ss"), (url.UserName, url.Password));
        Assert.Equal("rabbit.example:5673", url.Endpoint);
        Assert.Equal("amqps://us%20er:p%40ss@rabbit.example:5673/my%2Fvhost", url.Uri.OriginalString);
    }

    [Theory]
    [InlineData("amqp://h", false, 5672)]
    [InlineData("amqp://h/", false, 5672)]
    [InlineData("amqps://h", true, 5671)]
    [InlineData("AMQPS://h/%2F", true, 5671)]
    public void Parse_NoPortUserOrVhost_UsesTheDefaults(string text, bool tls, int port)
    {
        var url = BrokerUrl.Parse(text);

        Assert.Equal((tls, port), (url.IsTls, url.Port));
        Assert.Equal("/", url.VirtualHost);
        Assert.Equal(("guest", "guest"), (url.UserName, url.Password));
    }

    [Theory]
    [InlineData("amqp://h/v%25", "v%")]
    [InlineData("amqp://h/a%2fb", "a/b")]
    [InlineData("amqp://h/%C3%A9", "\u00e9")]
    public void Parse_PercentEscapesInTheVirtualHost_AreDecoded(string text, string vhost)
    {
        var url = BrokerUrl.Parse(text);

        Assert.Equal(vhost, url.VirtualHost);
        Assert.Equal(text, url.Masked);
    }

    [Fact]
    public void Parse_UserWithoutPassword_KeepsTheDefaultPassword()
    {
        var url = BrokerUrl.Parse("amqp://admin@h/");

        Assert.Equal(("admin", "guest"), (url.UserName, url.Password));
        Assert.Equal("amqp://admin@h/", url.Masked);
    }

    [Fact]
    public void Parse_IPv6Host_HasNoBracketsButTheEndpointHas()
    {
        var url = BrokerUrl.Parse("amqp://[::1]:5673/");

        Assert.Equal("::1", url.Host);
        Assert.Equal("[::1]:5673", url.Endpoint);
    }

    [Fact]
    public void Masked_UrlWithPassword_ReplacesOnlyThePassword()
    {
        var url = BrokerUrl.Parse($"amqp://user:{Secret}@host:5672/vh");

        Assert.Equal("amqp://user:***@host:5672/vh", url.Masked);
        Assert.Equal(url.Masked, url.ToString());
    }

    [Theory]
    [InlineData($"amqp://user:{Secret}@host/")]
    [InlineData($"amqps://u:{Secret}@[2001:db8::1]:5671/v")]
    [InlineData("amqp://u:s3cr3t%2DPw@host/")]
    public void Parse_UrlWithPassword_NoPrintableFormShowsIt(string text)
    {
        var url = BrokerUrl.Parse(text);

        Assert.Equal(Secret, url.Password);
        foreach (var shown in new[] { url.Masked, url.Endpoint, url.ToString() })
        {
            Assert.DoesNotContain(Secret, shown, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cr3t", shown, StringComparison.Ordinal);
        }

        Assert.Contains(":***@", url.Masked, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://h/", "unsupported scheme 'http' (use amqp:// or amqps://)")]
    [InlineData($"ftp://u:{Secret}@h/", "unsupported scheme 'ftp' (use amqp:// or amqps://)")]
    [InlineData("amqp:///vhost", "missing host")]
    [InlineData("amqp:h", "missing host")]
    [InlineData("amqp://h:0/", "port must be from 1 to 65535, got 0")]
    [InlineData($"amqp://u:{Secret}@h:99999/", "port must be from 1 to 65535, got 99999")]
    [InlineData("amqp://[::1]:70000/v", "port must be from 1 to 65535, got 70000")]
    [InlineData("amqp://h:99999999999999999999", "port must be from 1 to 65535, got 99999999999999999999")]
    [InlineData("amqp://u@h:5x/", "port must be from 1 to 65535, got '5x'")]
    [InlineData("amqp://h:5x/", "port must be from 1 to 65535, got 2 character(s) that are no number (not quoted: with no user@ before the host, they may be a password whose @host is missing)")]
    [InlineData($"amqp://admin:{Secret}", "port must be from 1 to 65535, got 9 character(s) that are no number (not quoted: with no user@ before the host, they may be a password whose @host is missing)")]
    [InlineData("amqp://user:12345/S3cret@rabbit/", "a '@' after the host: write a '/' in a password as %2F (and a '@' in a virtual host's name as %40)")]
    [InlineData("amqp://user:12345/S3cret/x%zz@rabbit/", "a '@' after the host: write a '/' in a password as %2F (and a '@' in a virtual host's name as %40)")]
    [InlineData("amqp://h/vhost@home", "a '@' after the host: write a '/' in a password as %2F (and a '@' in a virtual host's name as %40)")]
    [InlineData($"amqp://u:{Secret}@h/v%2", "the virtual host has a '%' not followed by two hex digits: write a '%' in its name as %25 (amqp://host/v%252)")]
    [InlineData("amqp://h/%zzv", "the virtual host has a '%' not followed by two hex digits: write a '%' in its name as %25 (amqp://host/%25zzv)")]
    [InlineData("amqp://u:pa%zzS3cret@h/", "the user or password has a '%' not followed by two hex digits: write a '%' in them as %25")]
    [InlineData("amqp://u:S3cret%@h/", "the user or password has a '%' not followed by two hex digits: write a '%' in them as %25")]
    [InlineData("amqp://u%g1:p@h/", "the user or password has a '%' not followed by two hex digits: write a '%' in them as %25")]
    [InlineData("amqp://h/?heartbeat=5", "query parameters and fragments are not supported")]
    [InlineData($"amqp://:{Secret}@h/", "empty user name")]
    [InlineData("localhost:5672", "unsupported scheme 'localhost' (use amqp:// or amqps://)")]
    [InlineData("not a url", "not an absolute URL (expected amqp://user:password@host:port/vhost)")]
    [InlineData($"amqp://u:{Secret}@h/a/b", "the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/a%2Fb)")]
    [InlineData("amqp://h/a/b/", "the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/a%2Fb%2F)")]
    [InlineData("amqp://h///", "the virtual host is one path segment: write a '/' in its name as %2F (amqp://host/%2F%2F)")]
    public void Parse_Invalid_ThrowsWithoutThePassword(string text, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => BrokerUrl.Parse(text));

        Assert.Equal(expected, ex.Message);
        Assert.False(BrokerUrl.TryParse(text, out var url));
        Assert.Null(url);
    }

    [Theory]
    [InlineData("amqp://app:S3cret%40x@h/", "cannot connect to amqp://app:S3cret%40x@h:5672/", "cannot connect to amqp://app:***@h:5672/")]
    [InlineData("amqp://app:S3cret%40x@h/", "Bad user info in AMQP URI: app:S3cret@x", "Bad user info in AMQP URI: app:***")]
    [InlineData("amqp://app:S3cret%40x@h/", "userinfo app:S3cret%40x", "userinfo app:***")]
    [InlineData("amqp://app:S3cret%40x@h/", "amqp://other:S3cret@x@h", "amqp://other:***@h")]
    [InlineData("amqp://us%20er:pw@h/", "us er:pw and us%20er:pw", "us er:*** and us%20er:***")]
    public void Redact_PasswordAsCredentials_IsMasked(string url, string text, string expected) =>
        Assert.Equal(expected, BrokerUrl.Parse(url).Redact(text));

    [Theory]
    [InlineData("amqp://guest:guest@h/v", "530 NOT_ALLOWED - access to vhost 'v' refused for user 'guest'")]
    [InlineData("amqp://u:p@10.0.0.1/", "None of the specified endpoints were reachable")]
    [InlineData("amqp://u:rabbit@h/", "home node 'rabbit@rabbit-2' is down")]
    [InlineData("amqp://admin@h/", "refused for user 'guest'")]
    [InlineData("amqp://h/", "refused for user 'guest'")]
    [InlineData("amqp://u:@h/", "u: nothing to hide")]
    public void Redact_PasswordAsAWordOfTheText_LeavesTheTextAsItIs(string url, string text) =>
        Assert.Equal(text, BrokerUrl.Parse(url).Redact(text));
}
