using System.Security.Cryptography;
using System.Text;
using Eventsourced.Testing.Tokens;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Tokens;
using static Eventsourced.Tests.Authentication.AuthTesting;

namespace Eventsourced.Tests.Authentication;

public sealed class SubscriberAuthenticatorTests
{
    private static async Task<(int Status, string Error, string Reason)> RefusalAsync(Eventsourced.Authentication.SubscriberAuthenticator authenticator, HttpContext context)
    {
        var result = await authenticator.AuthenticateAsync(context);
        Assert.False(result.Succeeded, "expected a refusal");
        return (result.Status, result.Error, result.Reason);
    }

    [Fact]
    public async Task Authenticate_WithoutKeys_EveryRequestPassesAnonymously()
    {
        var authenticator = Authenticator(_ => { });

        var result = await authenticator.AuthenticateAsync(Request());

        Assert.True(result.Succeeded);
        Assert.False(result.User!.Identity!.IsAuthenticated);
        Assert.Null(result.Expires);
        Assert.False(authenticator.Enabled);
    }

    [Fact]
    public async Task Authenticate_Hs256BearerToken_GivesItsClaims()
    {
        var token = TestTokens.Hs256(TestTokens.Claims("42", "user-42"), TimeSpan.FromMinutes(5));

        var result = await WithSecret().AuthenticateAsync(Request(bearer: token));

        Assert.True(result.Succeeded);
        Assert.True(result.User!.Identity!.IsAuthenticated);
        Assert.Equal("42", result.User.FindFirst("sub")!.Value);
        Assert.Equal(["user-42"], result.User.FindAll("queues").Select(c => c.Value));
    }

    [Fact]
    public async Task Authenticate_Expires_IsExpPlusClockSkew()
    {
        var token = TestTokens.Hs256(TestTokens.Claims("42"), TimeSpan.FromMinutes(5));
        var exp = DateTimeOffset.FromUnixTimeSeconds(new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).GetPayloadValue<long>("exp"));

        var result = await WithSecret(o => o.Jwt.ClockSkewSeconds = 7).AuthenticateAsync(Request(bearer: token));

        Assert.Equal(exp + TimeSpan.FromSeconds(7), result.Expires);
    }

    [Theory]
    [InlineData("sub")]
    [InlineData("iss")]
    [InlineData("exp")]
    [InlineData("nbf")]
    public async Task Authenticate_RegisteredClaimOfAnotherType_IsAMalformedToken(string claim)
    {
        // The JWT standard gives these one value of one type (README: a 401, not the 400 of a claim of ours).
        var claims = new Dictionary<string, object> { ["sub"] = "42", [claim] = new[] { "a", "b" } };
        var token = TestTokens.Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(TestTokens.Secret)), SecurityAlgorithms.HmacSha256, claims, withExpiry: false);

        Assert.Equal(401, (await RefusalAsync(WithSecret(), Request(bearer: token))).Status);
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("nbf")]
    [InlineData("iat")]
    public async Task Authenticate_TimeAsAString_IsAMalformedToken(string claim)
    {
        // RFC 7519 section 2: a NumericDate is a JSON number; "exp": "1733000000" was taken as that time (a 200).
        var token = WithTimes(claim, quoted: true);

        var (status, error, reason) = await RefusalAsync(WithSecret(), Request(bearer: token));

        Assert.Equal((401, "invalid_token", $"token's {claim} is not a number (a NumericDate, RFC 7519)"), (status, error, reason));
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("nbf")]
    [InlineData("iat")]
    public async Task Authenticate_TimeAsANumber_IsAccepted(string claim) =>
        Assert.True((await WithSecret().AuthenticateAsync(Request(bearer: WithTimes(claim, quoted: false)))).Succeeded);

    [Fact]
    public async Task Authenticate_TimeGivenTwice_OnceAsAString_IsAMalformedToken()
    {
        // IdentityModel reads the last of a member given twice: a string first must not slip through either.
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        var token = SignPayload($$"""{"sub":"42","exp":"{{exp}}","exp":{{exp}}}""");

        Assert.Equal(401, (await RefusalAsync(WithSecret(), Request(bearer: token))).Status);
    }

    /// <summary>A token with exp, nbf and iat around now, <paramref name="claim"/> written as a JSON string when <paramref name="quoted"/>.</summary>
    private static string WithTimes(string claim, bool quoted)
    {
        var now = DateTimeOffset.UtcNow;
        var times = new Dictionary<string, long> { ["exp"] = now.AddMinutes(5).ToUnixTimeSeconds(), ["nbf"] = now.AddMinutes(-1).ToUnixTimeSeconds(), ["iat"] = now.AddMinutes(-1).ToUnixTimeSeconds() };
        var members = times.Select(t => quoted && t.Key == claim ? $"\"{t.Key}\":\"{t.Value}\"" : $"\"{t.Key}\":{t.Value}");
        return SignPayload("{\"sub\":\"42\"," + string.Join(',', members) + "}");
    }

    /// <summary>An HS256 token of the test secret over <paramref name="payload"/> exactly as written (the descriptor would set iat itself).</summary>
    private static string SignPayload(string payload) =>
        new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(payload, new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(TestTokens.Secret)), SecurityAlgorithms.HmacSha256));

    [Theory]
    [InlineData(253402300799L)] // 9999-12-31T23:59:59Z: the last second a DateTime holds
    [InlineData(253402300800L)] // past DateTime.MaxValue
    [InlineData(1796290438000L)] // an exp in milliseconds (JavaScript's Date.now()), read as DateTime.MaxValue
    public async Task Authenticate_ExpAtTheEndOfTime_NeverExpiresInsteadOfThrowing(long exp)
    {
        var claims = new Dictionary<string, object> { ["sub"] = "42", ["exp"] = exp };
        var token = TestTokens.Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(TestTokens.Secret)), SecurityAlgorithms.HmacSha256, claims, withExpiry: false);

        var result = await WithSecret(o => o.Jwt.ClockSkewSeconds = 30).AuthenticateAsync(Request(bearer: token));

        Assert.True(result.Succeeded);
        Assert.Equal(DateTimeOffset.MaxValue, result.Expires);
    }

    /// <summary>
    /// A token of five parts (an encrypted token's shape) whose key, IV, ciphertext or tag is not base64url: IdentityModel
    /// reads those parts when it parses the token, and its FormatException went out of the request, a 500 and an error
    /// with a stack trace in the log for anyone who sent one (no key needed).
    /// </summary>
    [Theory]
    [InlineData("a.b.c.d")]
    [InlineData(".a.YWJj.ZGVm")]
    [InlineData(".YWJj.a.ZGVm")]
    [InlineData(".YWJj.ZGVm.a")]
    [InlineData("YWJj.YWJj.ZGVm.a")]
    [InlineData("*.YWJj.ZGVm.Z2hp")]
    public async Task Authenticate_EncryptedTokenShapeWithPartsThatAreNotBase64Url_IsAMalformedToken(string rest)
    {
        var header = Base64UrlEncoder.Encode("""{"alg":"RSA-OAEP","enc":"A256GCM"}""");

        Assert.Equal((401, "invalid_token", "malformed token"), await RefusalAsync(WithSecret(), Request(bearer: $"{header}.{rest}")));
    }

    [Fact]
    public async Task Authenticate_EncryptedToken_IsRefusedAsEncrypted()
    {
        var header = Base64UrlEncoder.Encode("""{"alg":"dir","enc":"A128CBC-HS256"}""");

        Assert.Equal(
            (401, "invalid_token", "encrypted tokens are not accepted"),
            await RefusalAsync(WithSecret(), Request(bearer: $"{header}..YWJj.ZGVm.Z2hp")));
    }

    [Theory]
    [InlineData("queues")]
    [InlineData("topics")]
    [InlineData("roles")]
    public async Task Authenticate_UnpairedSurrogateInAnArrayClaim_IsAMalformedToken(string claim)
    {
        // A top-level string with one ("sub": "\ud800") was a malformed token already; an array's element threw out of
        // the request (InvalidOperationException from System.Text.Json), a 500 on every transport.
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        var token = SignPayload($$"""{"sub":"42","exp":{{exp}},"{{claim}}":["ok","\ud800"]}""");

        Assert.Equal((401, "invalid_token", "malformed token"), await RefusalAsync(WithSecret(), Request(bearer: token)));
    }

    [Fact]
    public async Task Authenticate_QuotedCookieToken_IsUnquoted()
    {
        // RFC 6265 section 4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ); the quotes wrap the value.
        var authenticator = WithSecret(o => o.FromCookie = "token");

        Assert.True((await authenticator.AuthenticateAsync(Request(cookie: "token=\"" + TestTokens.Hs256() + "\""))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_QueryToken_IsRead() =>
        Assert.True((await WithSecret().AuthenticateAsync(Request(query: "?id=1&access_token=" + TestTokens.Hs256()))).Succeeded);

    [Fact]
    public async Task Authenticate_CookieToken_IsReadOnlyWhenConfigured()
    {
        var cookie = "token=" + TestTokens.Hs256();

        Assert.True((await WithSecret(o => o.FromCookie = "token").AuthenticateAsync(Request(cookie: cookie))).Succeeded);
        Assert.Equal((401, "invalid_token", "no token (send it as Authorization: Bearer or access_token)"), await RefusalAsync(WithSecret(), Request(cookie: cookie)));
    }

    [Fact]
    public async Task Authenticate_SourcesSwitchedOff_AreNotRead()
    {
        var token = TestTokens.Hs256();

        Assert.Equal(401, (await RefusalAsync(WithSecret(o => o.FromHeader = false), Request(bearer: token))).Status);
        Assert.Equal(401, (await RefusalAsync(WithSecret(o => o.FromQuery = false), Request(query: "?access_token=" + token))).Status);
    }

    [Fact]
    public async Task Authenticate_NoToken_Is401InvalidToken() =>
        Assert.Equal((401, "invalid_token", "no token (send it as Authorization: Bearer or access_token or cookie t)"),
            await RefusalAsync(WithSecret(o => o.FromCookie = "t"), Request(query: "?id=1")));

    [Fact]
    public async Task Authenticate_OtherAuthorizationScheme_IsNoToken()
    {
        var context = Request();
        context.Request.Headers.Authorization = "Basic dXNlcjpwYXNz";

        Assert.Equal(401, (await RefusalAsync(WithSecret(), context)).Status);
    }

    [Fact]
    public async Task Authenticate_TwoTokens_Is400InvalidRequest()
    {
        var token = TestTokens.Hs256();

        Assert.Equal((400, "invalid_request", "several tokens in one request (Authorization: Bearer, access_token): send one"),
            await RefusalAsync(WithSecret(), Request(bearer: token, query: "?access_token=" + token)));
        // Named where this request has them, not every source the configuration reads (here also a cookie).
        Assert.Equal((400, "invalid_request", "several tokens in one request (access_token, cookie t): send one"),
            await RefusalAsync(WithSecret(o => o.FromCookie = "t"), Request(query: "?access_token=" + token, cookie: $"t={token}")));
        Assert.Equal((400, "invalid_request", "several tokens in one request (Authorization: Bearer, access_token): send one"),
            await RefusalAsync(WithSecret(o => o.FromCookie = "t"), Request(bearer: token, query: "?access_token=" + token)));
        var twoBearers = Request();
        twoBearers.Request.Headers.Authorization = new Microsoft.Extensions.Primitives.StringValues(["Bearer " + token, "Bearer " + token]);
        Assert.Equal((400, "invalid_request", "several tokens in one request (2 x Authorization: Bearer): send one"),
            await RefusalAsync(WithSecret(), twoBearers));
        Assert.Equal((400, "invalid_request", "access_token parameter given more than once"),
            await RefusalAsync(WithSecret(), Request(query: $"?access_token={token}&access_token={token}")));
        Assert.Equal((400, "invalid_request", "cookie 't' given more than once"),
            await RefusalAsync(WithSecret(o => o.FromCookie = "t"), Request(cookie: $"t={token}; t={token}")));
    }

    [Fact]
    public async Task Authenticate_AlgNone_IsRefused() =>
        Assert.Equal((401, "invalid_token", "token is not signed"), await RefusalAsync(WithSecret(), Request(bearer: TestTokens.Unsigned(TestTokens.Claims("42")))));

    [Theory]
    [InlineData("{\"typ\":\"JWT\"}")]
    [InlineData("{\"alg\":\"\",\"typ\":\"JWT\"}")]
    public async Task Authenticate_HeaderWithoutAlg_IsAMalformedToken(string header)
    {
        // Signed with the right secret over the header as written: only the missing algorithm is wrong (RFC 7515 4.1.1).
        // The refusal said "token signature invalid" before.
        var payload = TestTokens.Base64Url(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["sub"] = "42",
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        }));
        var signed = TestTokens.Base64Url(header) + "." + payload;
        var signature = Base64UrlEncoder.Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(TestTokens.Secret), Encoding.ASCII.GetBytes(signed)));

        Assert.Equal((401, "invalid_token", "malformed token: its header has no alg"), await RefusalAsync(WithSecret(), Request(bearer: signed + "." + signature)));
    }

    /// <summary>
    /// RFC 7519 section 7.2: the payload must be one complete JSON object. IdentityModel read the first object and ignored
    /// what followed it, so that a token whose payload went on after its closing brace (a second object another parser
    /// may read, junk, a NUL) opened a stream: <c>{"sub":"alice",...}{"sub":"bob"}</c> was alice's token here.
    /// </summary>
    [Theory]
    [InlineData("garbage")]
    [InlineData("{\"sub\":\"bob\"}")]
    [InlineData("\u0000")]
    [InlineData("]")]
    public async Task Authenticate_PayloadWithTextAfterItsObject_IsAMalformedToken(string after)
    {
        var exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        var header = TestTokens.Base64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
        string Signed(string payload)
        {
            var signed = header + "." + TestTokens.Base64Url(payload);
            return signed + "." + Base64UrlEncoder.Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(TestTokens.Secret), Encoding.ASCII.GetBytes(signed)));
        }

        var payload = $$"""{"sub":"alice","exp":{{exp}}}""";
        Assert.True((await WithSecret().AuthenticateAsync(Request(bearer: Signed(payload + " \n")))).Succeeded, "white space after the object is JSON");
        Assert.Equal((401, "invalid_token", "malformed token: its payload is not one JSON object"), await RefusalAsync(WithSecret(), Request(bearer: Signed(payload + after))));
    }

    [Theory]
    [InlineData("exp2")]
    [InlineData("b64")]
    public async Task Authenticate_CriticalHeaderExtension_IsRefused(string extension)
    {
        // Signed with the right secret, but its header says a recipient must understand an extension (RFC 7515 4.1.11);
        // b64: false would even mean that the signature covers the payload unencoded.
        var header = new Dictionary<string, object> { ["crit"] = new[] { extension }, [extension] = false };
        var token = TestTokens.Hs256WithHeader(header, TestTokens.Claims("42"));

        Assert.Equal((401, "invalid_token", "token has critical header extensions (crit), none of which is supported"),
            await RefusalAsync(WithSecret(), Request(bearer: token)));
    }

    [Fact]
    public async Task Authenticate_UnknownHeaderWithoutCrit_IsIgnored()
    {
        // jku and x5u name keys the token brings along: never fetched or used, the configured keys decide.
        var header = new Dictionary<string, object> { ["jku"] = "http://127.0.0.1:1/keys", ["x5u"] = "http://127.0.0.1:1/cert" };

        Assert.True((await WithSecret().AuthenticateAsync(Request(bearer: TestTokens.Hs256WithHeader(header, TestTokens.Claims("42"))))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_AnotherAlgorithmWithTheSecret_IsRefused()
    {
        // HS512 keyed with the very HS256 secret: a valid HMAC, but not the algorithm the key is for.
        var secret = Encoding.UTF8.GetBytes(TestTokens.Secret + TestTokens.Secret);
        var token = TestTokens.Sign(new SymmetricSecurityKey(secret), SecurityAlgorithms.HmacSha512);

        Assert.Equal(401, (await RefusalAsync(WithSecret(o => o.Jwt.Secret = TestTokens.Secret + TestTokens.Secret), Request(bearer: token))).Status);
        Assert.True((await WithSecret(o => o.Jwt.Secrets = ["HS512:" + TestTokens.Secret + TestTokens.Secret]).AuthenticateAsync(Request(bearer: token))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_WrongSignature_IsRefused()
    {
        var mine = TestTokens.Hs256(TestTokens.Claims("42"));
        var forged = TestTokens.WithPayload(mine, TestTokens.Claims("43"));

        Assert.Equal((401, "invalid_token", "token signature invalid"), await RefusalAsync(WithSecret(), Request(bearer: forged)));
    }

    [Fact]
    public async Task Authenticate_TokenOfAnotherKey_IsRefused()
    {
        var token = TestTokens.Hs256(secret: "another-secret-0123456789abcdef0123456789");

        Assert.Equal(401, (await RefusalAsync(WithSecret(), Request(bearer: token))).Status);
    }

    [Theory]
    [InlineData("not a token")]
    [InlineData("a.b.c")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.!!!.x")]
    public async Task Authenticate_MalformedToken_IsRefused(string token) =>
        Assert.Equal((401, "invalid_token", "malformed token"), await RefusalAsync(WithSecret(), Request(bearer: token)));

    [Fact]
    public async Task Authenticate_Expired_IsRefusedBeyondTheClockSkew()
    {
        var token = TestTokens.Hs256(lifetime: TimeSpan.FromSeconds(-20));

        Assert.Equal((401, "invalid_token", "token expired"), await RefusalAsync(WithSecret(o => o.Jwt.ClockSkewSeconds = 5), Request(bearer: token)));
        Assert.True((await WithSecret(o => o.Jwt.ClockSkewSeconds = 60).AuthenticateAsync(Request(bearer: token))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_NotYetValid_IsRefusedBeyondTheClockSkew()
    {
        var token = TestTokens.Hs256(notBefore: DateTimeOffset.UtcNow.AddSeconds(40));

        Assert.Equal((401, "invalid_token", "token not yet valid (nbf)"), await RefusalAsync(WithSecret(o => o.Jwt.ClockSkewSeconds = 5), Request(bearer: token)));
        Assert.True((await WithSecret(o => o.Jwt.ClockSkewSeconds = 60).AuthenticateAsync(Request(bearer: token))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_WithoutExp_IsRefused()
    {
        var token = TestTokens.Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(TestTokens.Secret)), SecurityAlgorithms.HmacSha256, withExpiry: false);

        Assert.Equal((401, "invalid_token", "token has no expiry (exp)"), await RefusalAsync(WithSecret(), Request(bearer: token)));
    }

    [Fact]
    public async Task Authenticate_IssuerAndAudience_AreCheckedWhenConfigured()
    {
        var right = TestTokens.Hs256(new Dictionary<string, object> { ["iss"] = "https://login.example", ["aud"] = "push" });
        var otherIssuer = TestTokens.Hs256(new Dictionary<string, object> { ["iss"] = "https://evil.example", ["aud"] = "push" });
        var otherAudience = TestTokens.Hs256(new Dictionary<string, object> { ["iss"] = "https://login.example", ["aud"] = "api" });
        var authenticator = WithSecret(o =>
        {
            o.Jwt.Issuers = ["https://login.example"];
            o.Jwt.Audiences = ["push", "push-staging"];
        });

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: right))).Succeeded);
        Assert.Equal((401, "invalid_token", "token issuer not accepted"), await RefusalAsync(authenticator, Request(bearer: otherIssuer)));
        Assert.Equal((401, "invalid_token", "token audience not accepted"), await RefusalAsync(authenticator, Request(bearer: otherAudience)));
        Assert.True((await WithSecret().AuthenticateAsync(Request(bearer: otherIssuer))).Succeeded); // not checked unless configured
    }

    [Theory]
    [InlineData("push", "push/")]
    [InlineData("https://push.example", "https://push.example/")]
    [InlineData("https://push.example/", "https://push.example")]
    [InlineData("push", "Push")]
    public async Task Authenticate_AudienceOtherThanConfigured_IsRefusedWithoutCanonicalization(string configured, string audience)
    {
        // RFC 7519 section 2: StringOrURI values compare as they are, case-sensitively, "with no transformations or
        // canonicalizations applied". IdentityModel's default drops a trailing '/' from both sides of the audience
        // comparison (not of the issuer's): a token issued for the audience "push/" (another service's) was let in here.
        var token = TestTokens.Hs256(new Dictionary<string, object> { ["aud"] = audience });
        var authenticator = WithSecret(o => o.Jwt.Audiences = [configured]);

        Assert.Equal((401, "invalid_token", "token audience not accepted"), await RefusalAsync(authenticator, Request(bearer: token)));
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256(new Dictionary<string, object> { ["aud"] = configured })))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_SeveralSecrets_AcceptsTokensOfEach()
    {
        const string previous = "previous-secret-0123456789abcdef0123456789";
        var authenticator = WithSecret(o => o.Jwt.Secrets = ["HS256:" + previous]);

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256()))).Succeeded);
        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Hs256(secret: previous)))).Succeeded);
    }

    [Fact]
    public async Task Authenticate_SecretFile_IsAKey()
    {
        var path = Path.GetTempFileName();
        await File.WriteAllTextAsync(path, "file-secret-0123456789abcdef0123456789abcdef0123456789abcdef-xyzxyzxyz\n");
        try
        {
            var authenticator = Authenticator(o => o.Jwt.SecretFiles = ["HS512:" + path]);
            var token = TestTokens.Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes("file-secret-0123456789abcdef0123456789abcdef0123456789abcdef-xyzxyzxyz")), SecurityAlgorithms.HmacSha512);

            Assert.True((await authenticator.AuthenticateAsync(Request(bearer: token))).Succeeded);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Authenticate_Rs256PublicKeyPem_VerifiesItsKeysTokensOnly()
    {
        using var rsa = RSA.Create(2048);
        using var other = RSA.Create(2048);
        using var pem = TestTokens.PublicPem(rsa);
        var authenticator = Authenticator(o => o.Jwt.PublicKeys = [pem.Path]);

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Sign(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256)))).Succeeded);
        Assert.Equal(401, (await RefusalAsync(authenticator, Request(bearer: TestTokens.Sign(new RsaSecurityKey(other), SecurityAlgorithms.RsaSha256)))).Status);
        // The same key with another algorithm than the key's (RS512, PS256).
        Assert.Equal(401, (await RefusalAsync(authenticator, Request(bearer: TestTokens.Sign(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha512)))).Status);
        Assert.Equal(401, (await RefusalAsync(authenticator, Request(bearer: TestTokens.Sign(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSsaPssSha256)))).Status);
        // Algorithm confusion: HS256 keyed with the public key's PEM text, which anyone can read.
        var confused = TestTokens.Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(await File.ReadAllTextAsync(pem.Path))), SecurityAlgorithms.HmacSha256);
        Assert.Equal(401, (await RefusalAsync(authenticator, Request(bearer: confused))).Status);
    }

    [Fact]
    public async Task Authenticate_Es256PublicKeyPem_Verifies()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var pem = TestTokens.PublicPem(ec);
        var authenticator = Authenticator(o => o.Jwt.PublicKeys = [pem.Path]);

        Assert.True((await authenticator.AuthenticateAsync(Request(bearer: TestTokens.Sign(new ECDsaSecurityKey(ec), SecurityAlgorithms.EcdsaSha256)))).Succeeded);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Equal(401, (await RefusalAsync(authenticator, Request(bearer: TestTokens.Sign(new ECDsaSecurityKey(other), SecurityAlgorithms.EcdsaSha256)))).Status);
    }

    [Fact]
    public void PublicKeyFile_PrivateKey_IsRefused()
    {
        using var rsa = RSA.Create(2048);
        using var pem = new TempPem(rsa.ExportPkcs8PrivateKeyPem());

        Assert.EndsWith("holds a private key; give the gateway the public key only", Eventsourced.Authentication.PublicKeyFile.Check(pem.Path), StringComparison.Ordinal);
    }

    [Fact]
    public void PublicKeyFile_ShortRsaKey_IsRefused()
    {
        using var rsa = RSA.Create(1024);
        using var pem = TestTokens.PublicPem(rsa);

        Assert.Equal("an RSA key must have at least 2048 bits, got 1024", Eventsourced.Authentication.PublicKeyFile.Check(pem.Path));
    }
}
