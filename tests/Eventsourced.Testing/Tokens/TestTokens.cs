using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Testing.Tokens;

/// <summary>
/// Signed tokens as an application would issue them for the gateway (IdentityModel's own
/// <see cref="JsonWebTokenHandler"/>), and the deliberately broken ones an attacker would try.
/// </summary>
public static class TestTokens
{
    /// <summary>An HS256 secret of 40 bytes, as <c>auth.jwt.secret</c> takes it.</summary>
    public const string Secret = "test-secret-0123456789abcdef0123456789ab";

    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };

    /// <summary>A token with <paramref name="claims"/> (a string array becomes a JSON array), expiring in <paramref name="lifetime"/> (default one hour).</summary>
    public static string Hs256(IDictionary<string, object>? claims = null, TimeSpan? lifetime = null, string secret = Secret, DateTimeOffset? notBefore = null, string? kid = null) =>
        Sign(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)) { KeyId = kid }, SecurityAlgorithms.HmacSha256, claims, lifetime, notBefore);

    /// <summary>A token signed by <paramref name="key"/> with <paramref name="algorithm"/>; <paramref name="lifetime"/> null: an hour; negative: expired.</summary>
    public static string Sign(SecurityKey key, string algorithm, IDictionary<string, object>? claims = null, TimeSpan? lifetime = null, DateTimeOffset? notBefore = null, bool withExpiry = true)
    {
        var now = DateTime.UtcNow;
        var descriptor = new SecurityTokenDescriptor
        {
            Claims = claims is null ? new Dictionary<string, object>() : new Dictionary<string, object>(claims),
            SigningCredentials = new SigningCredentials(key, algorithm),
            IssuedAt = now,
            Expires = withExpiry ? now + (lifetime ?? TimeSpan.FromHours(1)) : null,
            NotBefore = notBefore?.UtcDateTime,
        };
        return Handler.CreateToken(descriptor);
    }

    /// <summary>
    /// A correctly signed HS256 token whose header also carries <paramref name="header"/> (<c>crit</c>, <c>jku</c>, ...):
    /// what an attacker, or an issuer using a JWS extension, would send.
    /// </summary>
    public static string Hs256WithHeader(IDictionary<string, object> header, IDictionary<string, object>? claims = null, string secret = Secret)
    {
        var now = DateTime.UtcNow;
        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims is null ? new Dictionary<string, object>() : new Dictionary<string, object>(claims),
            AdditionalHeaderClaims = new Dictionary<string, object>(header),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256),
            IssuedAt = now,
            Expires = now + TimeSpan.FromHours(1),
        });
    }

    /// <summary><c>{"sub": sub}</c> and, when given, the <c>queues</c> claim listing what the token may read.</summary>
    public static Dictionary<string, object> Claims(string sub, params string[] queues)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (queues.Length > 0)
        {
            claims["queues"] = queues;
        }

        return claims;
    }

    /// <summary>An unsigned token (<c>alg: none</c>) with the given payload.</summary>
    public static string Unsigned(IDictionary<string, object>? claims = null)
    {
        var payload = new Dictionary<string, object>(claims ?? new Dictionary<string, object>())
        {
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        };
        return Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Base64Url(System.Text.Json.JsonSerializer.Serialize(payload)) + ".";
    }

    /// <summary><paramref name="token"/> with its payload replaced (signature kept): what a user would try to reach another's queue.</summary>
    public static string WithPayload(string token, IDictionary<string, object> claims)
    {
        var parts = token.Split('.');
        var payload = new Dictionary<string, object>(claims) { ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds() };
        return parts[0] + "." + Base64Url(System.Text.Json.JsonSerializer.Serialize(payload)) + "." + parts[2];
    }

    /// <summary>A JWKS document with the public parts of <paramref name="keys"/>.</summary>
    public static string Jwks(params (string Kid, RSA Key)[] keys) =>
        "{\"keys\":[" + string.Join(',', keys.Select(k =>
        {
            var p = k.Key.ExportParameters(false);
            return $"{{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"{k.Kid}\",\"n\":\"{Base64UrlEncoder.Encode(p.Modulus)}\",\"e\":\"{Base64UrlEncoder.Encode(p.Exponent)}\"}}";
        })) + "]}";

    /// <summary>A PEM file of <paramref name="key"/>'s public key (SubjectPublicKeyInfo), deleted with the returned handle.</summary>
    public static TempPem PublicPem(AsymmetricAlgorithm key) => new(key.ExportSubjectPublicKeyInfoPem());

    public static string Base64Url(string text) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(text));

    /// <summary>The claims of a principal as name=value lines, for assertions.</summary>
    public static IEnumerable<string> Describe(ClaimsPrincipal user) => user.Claims.Select(c => $"{c.Type}={c.Value}");
}

/// <summary>A temporary PEM file.</summary>
public sealed class TempPem : IDisposable
{
    public TempPem(string text)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"eventsourced-key-{Guid.NewGuid():N}.pem");
        File.WriteAllText(Path, text);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
