using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

public sealed class SecretUrlTests
{
    [Theory]
    [InlineData("https://idp.example/.well-known/jwks.json", "https://idp.example/.well-known/jwks.json")]
    [InlineData("https://keys:S3cret@idp.example:8443/jwks", "https://keys:***@idp.example:8443/jwks")]
    [InlineData("https://keys@idp.example/jwks", "https://keys@idp.example/jwks")]
    [InlineData("https://idp.example/jwks?api_key=S3cret&tenant=t1", "https://idp.example/jwks?api_key=***&tenant=***")]
    [InlineData("https://idp.example/jwks?S3cret", "https://idp.example/jwks?***")]
    [InlineData("https://idp.example/jwks#S3cret", "https://idp.example/jwks")]
    [InlineData("http://[::1]:8080/jwks?sig=S3cret", "http://[::1]:8080/jwks?sig=***")]
    [InlineData("", "")]
    public void Mask_KeepsWhereItPoints_HidesCredentials(string url, string shown) => Assert.Equal(shown, SecretUrl.Mask(url));

    [Theory]
    [InlineData("idp.example/jwks?api_key=S3cret")]
    [InlineData("not a url S3cret")]
    [InlineData("/etc/S3cret")]
    public void Mask_WhatIsNoAbsoluteUrl_IsNotShown(string url) => Assert.Equal("***", SecretUrl.Mask(url));

    [Theory]
    [InlineData("ftp://idp.example/jwks?api_key=S3cret", "ftp://***")]
    [InlineData("ftp://keys:S3cret@idp.example/jwks", "ftp://***")]
    [InlineData("ws://idp.example/jwks?api_key=S3cret", "ws://***")]
    [InlineData("custom://idp.example/jwks/S3cret?x=S3cret", "custom://***")]
    public void Mask_AUrlOfAnotherScheme_ShowsItsSchemeOnly(string url, string shown)
    {
        // A jwks_url refused for its scheme was quoted in the configuration error: .NET reads ftp://'s query as its path,
        // so the api key was printed.
        Assert.Equal(shown, SecretUrl.Mask(url));
    }
}
