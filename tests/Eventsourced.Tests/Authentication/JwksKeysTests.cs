using System.Security.Cryptography;
using Eventsourced.Testing.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using static Eventsourced.Tests.Authentication.AuthTesting;

namespace Eventsourced.Tests.Authentication;

/// <summary><c>auth.jwt.jwks_url</c> against a real HTTP server on loopback whose key set rotates.</summary>
public sealed class JwksKeysTests : IAsyncLifetime
{
    private readonly RSA _first = RSA.Create(2048);
    private readonly RSA _second = RSA.Create(2048);
    private WebApplication _server = null!;
    private volatile string _document = "{\"keys\":[]}";
    private int _fetches;

    private string Url { get; set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _server = builder.Build();
        _server.MapGet("/jwks.json", (HttpContext context) =>
        {
            Interlocked.Increment(ref _fetches);
            return Results.Text(_document, "application/json");
        });
        await _server.StartAsync();
        Url = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/jwks.json";
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _first.Dispose();
        _second.Dispose();
    }

    private static string Token(RSA key, string kid, string algorithm = SecurityAlgorithms.RsaSha256) =>
        TestTokens.Sign(new RsaSecurityKey(key) { KeyId = kid }, algorithm, TestTokens.Claims("42"));

    private Eventsourced.Authentication.SubscriberAuthenticator Jwks(int cooldown = 1) =>
        Authenticator(o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksCooldownSeconds = cooldown;
        });

    [Fact]
    public async Task Authenticate_KeyOfTheSet_Verifies()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks();

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k1")))).Status);
        // RS512 with the RS256 key of the set.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1", SecurityAlgorithms.RsaSha512)))).Status);
    }

    [Fact]
    public async Task Authenticate_UnknownKid_FetchesTheSetAgainOnce()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 1);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = Volatile.Read(ref _fetches);

        // The issuer rotates: k2 in, k1 on its way out. Past the cooldown, the first token naming k2 fetches the set.
        _document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2"))).AsTask()));

        Assert.All(results, r => Assert.True(r.Succeeded, r.Reason));
        Assert.Equal(fetched + 1, Volatile.Read(ref _fetches));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_UnknownKidsWithinTheCooldown_DoNotFetch()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 3600);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = Volatile.Read(ref _fetches);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "random-" + i)))).Status);
        }

        Assert.Equal(fetched, Volatile.Read(ref _fetches));
    }

    [Fact]
    public async Task Authenticate_SetGoneBad_KeepsTheLastGoodKeys()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 1);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        _document = "not json";
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k9")))).Status); // fetches, fails

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
    }

    [Fact]
    public async Task Log_CredentialsInTheUrl_AreNotWritten()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var log = new Eventsourced.Testing.Gateways.CollectedLog();
        var options = new Eventsourced.Authentication.AuthOptions();
        var address = new Uri(Url);
        options.Jwt.JwksUrl = $"http://keys:Pass1Secret@{address.Authority}{address.AbsolutePath}?api_key=Key2Secret";
        options.Jwt.JwksCooldownSeconds = 1;
        var authenticator = new Eventsourced.Authentication.SubscriberAuthenticator(
            Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, new Microsoft.Extensions.Logging.Logger<Eventsourced.Authentication.SubscriberAuthenticator>(new Microsoft.Extensions.Logging.LoggerFactory([log])));

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        _document = "not json";
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k9")))).Status); // fetches, fails

        var messages = log.Entries.Select(e => e.Message).ToArray();
        Assert.Contains(messages, m => m.Contains($"http://keys:***@{address.Authority}{address.AbsolutePath}?api_key=***", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Fetching signing keys from", StringComparison.Ordinal));
        Assert.DoesNotContain(messages, m => m.Contains("Secret", StringComparison.Ordinal));
    }
}
