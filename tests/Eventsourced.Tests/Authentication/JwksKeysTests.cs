using System.Security.Cryptography;
using Eventsourced.Testing.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Eventsourced.Testing;
using Eventsourced.Testing.Gateways;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.Tokens;
using static Eventsourced.Tests.Authentication.AuthTesting;

namespace Eventsourced.Tests.Authentication;

/// <summary><c>auth.jwt.jwks_url</c> against a real HTTP server on loopback whose key set rotates.</summary>
public sealed class JwksKeysTests : IAsyncLifetime
{
    private readonly RSA _first = RSA.Create(2048);
    private readonly RSA _second = RSA.Create(2048);
    private WebApplication _server = null!;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _hungFetch = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string _document = "{\"keys\":[]}";
    private volatile string _contentType = "application/json";
    private volatile bool _hang;
    private int _fetches;

    private string Url { get; set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _server = builder.Build();
        _server.MapGet("/jwks.json", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _fetches);
            if (_hang)
            {
                // An identity provider that takes the request and does not answer (until the test ends).
                _hungFetch.TrySetResult();
                await _release.Task;
            }

            return Results.Text(_document, _contentType);
        });
        await _server.StartAsync();
        Url = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/jwks.json";
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _server.DisposeAsync();
        _first.Dispose();
        _second.Dispose();
    }

    private static string Token(RSA key, string? kid, string algorithm = SecurityAlgorithms.RsaSha256) =>
        TestTokens.Sign(new RsaSecurityKey(key) { KeyId = kid }, algorithm, TestTokens.Claims("42"));

    private Eventsourced.Authentication.SubscriberAuthenticator Jwks(int cooldown = 1) =>
        Authenticator(o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksCooldownSeconds = cooldown;
        });

    private static Eventsourced.Authentication.SubscriberAuthenticator Logged(TimeProvider time, CollectedLog log, Action<Eventsourced.Authentication.AuthOptions> configure)
    {
        var options = new Eventsourced.Authentication.AuthOptions();
        configure(options);
        return new Eventsourced.Authentication.SubscriberAuthenticator(
            Microsoft.Extensions.Options.Options.Create(options), time, new Logger<Eventsourced.Authentication.SubscriberAuthenticator>(new LoggerFactory([log])));
    }

    private static bool FetchFailed(CollectedLog log) =>
        log.Entries.Any(e => e.Message.StartsWith("Fetching signing keys from", StringComparison.Ordinal));

    [Fact]
    public async Task Authenticate_SetOlderThanTheRefreshWhileTheUrlHangs_VerifiesWithTheLastKeysWithoutWaiting()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksRefreshSeconds = 10;
        });
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        _hang = true;
        time.Advance(TimeSpan.FromSeconds(11));
        var result = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, kid: null)));

        // Verified with the set at hand while the refresh it started waits for the server (which gives up after 10 s).
        Assert.True(result.Succeeded, result.Reason);
        await _hungFetch.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(FetchFailed(log), "the subscriber waited for the refresh to fail");
    }

    [Fact]
    public async Task Authenticate_HmacTokenWhileTheUrlHangs_DoesNotWaitForTheSet()
    {
        _hang = true;
        var log = new CollectedLog();
        var authenticator = Logged(TimeProvider.System, log, o =>
        {
            o.Jwt.Secret = TestTokens.Secret;
            o.Jwt.JwksUrl = Url;
        });
        await _hungFetch.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the first fetch, at start

        var result = await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256(TestTokens.Claims("42"))));

        Assert.True(result.Succeeded, result.Reason);
        Assert.False(FetchFailed(log), "an HS256 token waited for the key set, which holds no HMAC key");
    }

    [Fact]
    public async Task Authenticate_KeyRemovedFromTheSet_StopsVerifyingTokensNamingItAfterTheRefresh()
    {
        _document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var authenticator = Logged(time, new CollectedLog(), o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksRefreshSeconds = 10;
        });
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = Volatile.Read(ref _fetches);

        // The issuer revokes k1. Past jwks_refresh, tokens naming a key of the set (k2) fetch it again.
        _document = TestTokens.Jwks(("k2", _second));
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2")))).Succeeded);
        await Wait.UntilAsync(() => Volatile.Read(ref _fetches) > fetched, TimeSpan.FromSeconds(10), "the set fetched again");
        await Wait.UntilAsync(async () => (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Status == 401, TimeSpan.FromSeconds(10), "k1 refused");

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2")))).Succeeded);
    }

    /// <summary>
    /// The issuer removes a key while nobody subscribes: the set is fetched again every jwks_refresh seconds anyway, and
    /// what that key's tokens were granted (their <c>KeyRemoved</c>) ends; another key's goes on.
    /// </summary>
    [Fact]
    public async Task Refresh_KeyRemovedFromTheSet_EndsWhatItsTokensOpenedAndNothingElse()
    {
        _document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksRefreshSeconds = 10;
        });
        var first = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        var second = await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2")));
        Assert.True(first.Succeeded && second.Succeeded);
        Assert.True(first.KeyRemoved.CanBeCanceled, "a key of the set must carry its removal");
        Assert.False(first.KeyRemoved.IsCancellationRequested);
        var fetched = Volatile.Read(ref _fetches);

        _document = TestTokens.Jwks(("k2", _second));
        time.Advance(TimeSpan.FromSeconds(10));

        await Wait.UntilAsync(() => first.KeyRemoved.IsCancellationRequested, TimeSpan.FromSeconds(10), "k1's removal signalled");
        Assert.Equal(fetched + 1, Volatile.Read(ref _fetches));
        Assert.False(second.KeyRemoved.IsCancellationRequested, "k2 is still in the set");
        var removed = Assert.Single(log.Entries, e => e.EventId == 504);
        Assert.Contains("k1", removed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("k2", removed.Message, StringComparison.Ordinal);

        // A token of the removed key verified afterwards is refused; one verified in between would find its removal done.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Status);
    }

    [Fact]
    public async Task Refresh_SetUnchanged_KeysGoOnAndTheFetchIsLoggedOnce()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksRefreshSeconds = 10;
        });
        var result = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.True(result.Succeeded, result.Reason);
        var fetched = Volatile.Read(ref _fetches);

        for (var i = 1; i <= 3; i++)
        {
            time.Advance(TimeSpan.FromSeconds(10));
            await Wait.UntilAsync(() => Volatile.Read(ref _fetches) >= fetched + i, TimeSpan.FromSeconds(10), $"fetch {i} of the timer");
        }

        // The last fetch has been answered; its keys are in place once a token verifies.
        await Wait.UntilAsync(async () => (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded, TimeSpan.FromSeconds(10), "k1 verifies");
        Assert.False(result.KeyRemoved.IsCancellationRequested, "the same key fetched again is not a removal");
        Assert.Single(log.Entries, e => e.EventId == 501);
        Assert.DoesNotContain(log.Entries, e => e.EventId == 504);
    }

    [Fact]
    public async Task Authenticate_ConfiguredSecretBesideTheSet_HasNoRemoval()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var authenticator = Authenticator(o =>
        {
            o.Jwt.Secret = TestTokens.Secret;
            o.Jwt.JwksUrl = Url;
        });

        var result = await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256(TestTokens.Claims("42"))));

        Assert.True(result.Succeeded, result.Reason);
        Assert.False(result.KeyRemoved.CanBeCanceled);
    }

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

    /// <summary>
    /// No key set fetched yet (the identity provider down or answering errors since the start): the gateway can verify no
    /// RSA or EC token at all, whoever sends it. A 401 "token signature invalid" blamed every client's token for the
    /// gateway's own state (pages renew tokens that are fine, the unauthorized outcome and its alert point at keys and
    /// clocks); a 503 says to try again, as while no broker connection is up. Once a set is fetched, tokens verify.
    /// </summary>
    [Fact]
    public async Task Authenticate_NoSetFetchedYet_IsA503ToTryAgain_NotA401_AndVerifiesOnceTheSetComes()
    {
        _document = "<html>identity provider down</html>";
        _contentType = "text/html";
        var authenticator = Jwks(cooldown: 1);

        var refused = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.Equal(503, refused.Status);
        Assert.Equal("signing keys unavailable: auth.jwt.jwks_url's key set could not be fetched yet", refused.Reason);
        // An HMAC token never waits for the set: still judged on its own (no secret is configured here).
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Sign(new SymmetricSecurityKey(new byte[32]) { KeyId = "h" }, SecurityAlgorithms.HmacSha256, TestTokens.Claims("42"))))).Status);

        _document = TestTokens.Jwks(("k1", _first));
        _contentType = "application/json";
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        // With a set at hand, a key it lacks is the token's problem again.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k1")))).Status);
    }

    [Fact]
    public async Task Authenticate_JsonWithoutKeys_KeepsTheLastGoodKeysAndSaysItIsNoKeySet()
    {
        _document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksCooldownSeconds = 1;
        });
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        // An identity provider's error object, answered 200: not a set without keys.
        _document = "{\"error\":\"temporarily_unavailable\"}";
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k9")))).Status); // fetches, fails

        var result = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.True(result.Succeeded, result.Reason);
        Assert.Contains(log.Entries, e => e.Message.StartsWith("Fetching signing keys from", StringComparison.Ordinal)
            && e.Message.Contains("no JSON Web Key Set: no \"keys\" array (Content-Type application/json, 35 characters)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Log_AnHtmlPageInPlaceOfTheSet_SaysItIsNotJsonWithItsContentType()
    {
        // A login page or a proxy's error page answered 200, as a wrong jwks_url gets.
        _document = "<html><body>Sign in</body></html>";
        _contentType = "text/html";
        var log = new CollectedLog();
        var authenticator = Logged(TimeProvider.System, log, o => o.Jwt.JwksUrl = Url);

        // No set fetched yet: the token cannot be judged (503, see Authenticate_NoSetFetchedYet_*); the log says why.
        Assert.Equal(503, (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Status);

        var line = Assert.Single(log.Entries, e => e.Message.StartsWith("Fetching signing keys from", StringComparison.Ordinal)).Message;
        Assert.Contains("the answer is not JSON (Content-Type text/html, 33 characters)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("PII", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Sign in", line, StringComparison.Ordinal);
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
