using System.Security.Cryptography;
using Eventsourced.Testing.Tokens;
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
    private JwksServer _server = null!;

    private string Url => _server.Url;

    public async Task InitializeAsync() => _server = await JwksServer.StartAsync();

    public async Task DisposeAsync()
    {
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

    /// <summary>The set of <see cref="Url"/>, fetched again every 10 s of <paramref name="time"/>.</summary>
    private Eventsourced.Authentication.SubscriberAuthenticator Refreshing(TimeProvider time, CollectedLog log) =>
        Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksRefreshSeconds = 10;
        });

    private static bool FetchFailed(CollectedLog log) =>
        log.Entries.Any(e => e.Message.StartsWith("Fetching signing keys from", StringComparison.Ordinal));

    [Fact]
    public async Task Authenticate_SetOlderThanTheRefreshWhileTheUrlHangs_VerifiesWithTheLastKeysWithoutWaiting()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Refreshing(time, log);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        _server.Hang = true;
        time.Advance(TimeSpan.FromSeconds(11));
        var result = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, kid: null)));

        // Verified with the set at hand while the refresh it started waits for the server (which gives up after 10 s).
        Assert.True(result.Succeeded, result.Reason);
        await _server.HungFetch.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(FetchFailed(log), "the subscriber waited for the refresh to fail");
    }

    [Fact]
    public async Task Authenticate_HmacTokenWhileTheUrlHangs_DoesNotWaitForTheSet()
    {
        _server.Hang = true;
        var log = new CollectedLog();
        var authenticator = Logged(TimeProvider.System, log, o =>
        {
            o.Jwt.Secret = TestTokens.Secret;
            o.Jwt.JwksUrl = Url;
        });
        await _server.HungFetch.WaitAsync(TimeSpan.FromSeconds(30)); // the first fetch, at start

        var result = await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256(TestTokens.Claims("42"))));

        Assert.True(result.Succeeded, result.Reason);
        Assert.False(FetchFailed(log), "an HS256 token waited for the key set, which holds no HMAC key");
    }

    [Fact]
    public async Task Authenticate_KeyRemovedFromTheSet_StopsVerifyingTokensNamingItAfterTheRefresh()
    {
        _server.Document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var authenticator = Refreshing(time, new CollectedLog());
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = _server.Fetches;

        // The issuer revokes k1. Past jwks_refresh, tokens naming a key of the set (k2) fetch it again.
        _server.Document = TestTokens.Jwks(("k2", _second));
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2")))).Succeeded);
        await Wait.UntilAsync(() => _server.Fetches > fetched, TimeSpan.FromSeconds(10), "the set fetched again");
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
        _server.Document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Refreshing(time, log);
        var first = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        var second = await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2")));
        Assert.True(first.Succeeded && second.Succeeded);
        Assert.True(first.KeyRemoved.CanBeCanceled, "a key of the set must carry its removal");
        Assert.False(first.KeyRemoved.IsCancellationRequested);
        var fetched = _server.Fetches;

        _server.Document = TestTokens.Jwks(("k2", _second));
        time.Advance(TimeSpan.FromSeconds(10));

        await Wait.UntilAsync(() => first.KeyRemoved.IsCancellationRequested, TimeSpan.FromSeconds(10), "k1's removal signalled");
        Assert.Equal(fetched + 1, _server.Fetches);
        Assert.False(second.KeyRemoved.IsCancellationRequested, "k2 is still in the set");
        var removed = Assert.Single(log.Entries, e => e.EventId == 504);
        Assert.Contains("k1", removed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("k2", removed.Message, StringComparison.Ordinal);

        // A token of the removed key verified afterwards is refused; one verified in between would find its removal done.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Status);
    }

    /// <summary>
    /// The set comes back empty (or with no signing key the gateway uses) for a while: the last good keys stay, and what
    /// their tokens opened goes on; a slip of the identity provider does not end every stream at once.
    /// </summary>
    [Theory]
    [InlineData("{\"keys\":[]}", 0)]
    [InlineData("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"s\"}]}", 1)]
    public async Task Refresh_SetWithoutASigningKey_KeepsTheLastGoodKeysAndEndsNothing(string document, int keysInIt)
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Refreshing(time, log);
        var opened = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.True(opened.Succeeded, opened.Reason);
        var fetched = _server.Fetches;

        _server.Document = document;
        time.Advance(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => FetchFailed(log), TimeSpan.FromSeconds(10), "the set without a signing key reported");

        Assert.Equal(fetched + 1, _server.Fetches);
        Assert.Contains(log.Entries, e => e.EventId == 502
            && e.Message.Contains($"the key set holds no signing key (RSA or EC) to verify with ({keysInIt} keys in it)", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Entries, e => e.EventId == 504);
        Assert.False(opened.KeyRemoved.IsCancellationRequested, "k1's streams go on");
        var again = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.True(again.Succeeded, again.Reason);

        // When the set comes back without k1, k1 leaves as any removed key does.
        _server.Document = TestTokens.Jwks(("k2", _second));
        time.Advance(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => opened.KeyRemoved.IsCancellationRequested, TimeSpan.FromSeconds(10), "k1's removal signalled");
    }

    [Fact]
    public async Task Refresh_SetUnchanged_KeysGoOnAndTheFetchIsLoggedOnce()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Refreshing(time, log);
        var result = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.True(result.Succeeded, result.Reason);
        var fetched = _server.Fetches;

        // Each 10 s of the clock fetches again; a tick that finds the last fetch still running (its answer counted here,
        // not yet read there) joins that one, so the clock moves on until three more fetches have come.
        await Wait.UntilAsync(
            () =>
            {
                if (_server.Fetches < fetched + 3)
                {
                    time.Advance(TimeSpan.FromSeconds(10));
                }

                return _server.Fetches >= fetched + 3;
            },
            TimeSpan.FromSeconds(20),
            "three fetches of the timer");

        // The last fetch has been answered; its keys are in place once a token verifies.
        await Wait.UntilAsync(async () => (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded, TimeSpan.FromSeconds(10), "k1 verifies");
        Assert.False(result.KeyRemoved.IsCancellationRequested, "the same key fetched again is not a removal");
        Assert.Single(log.Entries, e => e.EventId == 501);
        Assert.DoesNotContain(log.Entries, e => e.EventId == 504);
    }

    [Fact]
    public async Task Authenticate_ConfiguredSecretBesideTheSet_HasNoRemoval()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
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
        _server.Document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks();

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k1")))).Status);
        // RS512 with the RS256 key of the set.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1", SecurityAlgorithms.RsaSha512)))).Status);
    }

    [Fact]
    public async Task Authenticate_UnknownKid_FetchesTheSetAgainOnce()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 1);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = _server.Fetches;

        // The issuer rotates: k2 in, k1 on its way out. Past the cooldown, the first token naming k2 fetches the set.
        _server.Document = TestTokens.Jwks(("k1", _first), ("k2", _second));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k2"))).AsTask()));

        Assert.All(results, r => Assert.True(r.Succeeded, r.Reason));
        Assert.Equal(fetched + 1, _server.Fetches);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_UnknownKidsWithinTheCooldown_DoNotFetch()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 3600);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        var fetched = _server.Fetches;

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "random-" + i)))).Status);
        }

        Assert.Equal(fetched, _server.Fetches);
    }

    [Fact]
    public async Task Authenticate_SetGoneBad_KeepsTheLastGoodKeys()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var authenticator = Jwks(cooldown: 1);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        _server.Document = "not json";
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
        _server.Document = "<html>identity provider down</html>";
        _server.ContentType = "text/html";
        var authenticator = Jwks(cooldown: 1);

        var refused = await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")));
        Assert.Equal(503, refused.Status);
        Assert.Equal("signing keys unavailable: auth.jwt.jwks_url's key set could not be fetched yet", refused.Reason);
        // An HMAC token never waits for the set: still judged on its own (no secret is configured here).
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Sign(new SymmetricSecurityKey(new byte[32]) { KeyId = "h" }, SecurityAlgorithms.HmacSha256, TestTokens.Claims("42"))))).Status);

        _server.Document = TestTokens.Jwks(("k1", _first));
        _server.ContentType = "application/json";
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        // With a set at hand, a key it lacks is the token's problem again.
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k1")))).Status);
    }

    [Fact]
    public async Task Authenticate_JsonWithoutKeys_KeepsTheLastGoodKeysAndSaysItIsNoKeySet()
    {
        _server.Document = TestTokens.Jwks(("k1", _first));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new CollectedLog();
        var authenticator = Logged(time, log, o =>
        {
            o.Jwt.JwksUrl = Url;
            o.Jwt.JwksCooldownSeconds = 1;
        });
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);

        // An identity provider's error object, answered 200: not a set without keys.
        _server.Document = "{\"error\":\"temporarily_unavailable\"}";
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
        _server.Document = "<html><body>Sign in</body></html>";
        _server.ContentType = "text/html";
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
        _server.Document = TestTokens.Jwks(("k1", _first));
        var log = new Eventsourced.Testing.Gateways.CollectedLog();
        var options = new Eventsourced.Authentication.AuthOptions();
        var address = new Uri(Url);
        options.Jwt.JwksUrl = $"http://keys:Pass1Secret@{address.Authority}{address.AbsolutePath}?api_key=Key2Secret";
        options.Jwt.JwksCooldownSeconds = 1;
        var authenticator = new Eventsourced.Authentication.SubscriberAuthenticator(
            Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, new Microsoft.Extensions.Logging.Logger<Eventsourced.Authentication.SubscriberAuthenticator>(new Microsoft.Extensions.Logging.LoggerFactory([log])));

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: Token(_first, "k1")))).Succeeded);
        _server.Document = "not json";
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(401, (await authenticator.AuthenticateAsync(Request(bearer: Token(_second, "k9")))).Status); // fetches, fails

        var messages = log.Entries.Select(e => e.Message).ToArray();
        Assert.Contains(messages, m => m.Contains($"http://keys:***@{address.Authority}{address.AbsolutePath}?api_key=***", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Fetching signing keys from", StringComparison.Ordinal));
        Assert.DoesNotContain(messages, m => m.Contains("Secret", StringComparison.Ordinal));
    }
}
