using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Authentication;

/// <summary>
/// The <c>auth.jwt</c> section: the keys subscriber tokens are signed with (any number of each kind at once,
/// for rotation), and the checks of a token's claims. Each key verifies its own algorithm only.
/// </summary>
public sealed class JwtOptions
{
    /// <summary><c>auth.jwt.secret</c>: an HS256 shared secret, its UTF-8 bytes (at least 32); best given as <c>EVENTSOURCED_AUTH__JWT__SECRET</c>.</summary>
    [ConfigurationKeyName("secret")]
    [Masked]
    [ValueRule<SharedSecret>]
    public string Secret { get; set; } = string.Empty;

    /// <summary><c>auth.jwt.secrets</c>: more shared secrets, each <c>ALGORITHM:SECRET</c> with HS256, HS384 or HS512.</summary>
    [ConfigurationKeyName("secrets")]
    [Masked]
    [MayBeEmpty]
    [AlgorithmEntries]
    [ValueRule<SecretEntry>]
    public List<string> Secrets { get; set; } = [];

    /// <summary><c>auth.jwt.secret_files</c>: shared secrets in files, each <c>ALGORITHM:PATH</c>; the file's bytes are the secret (a final newline is dropped).</summary>
    [ConfigurationKeyName("secret_files")]
    [MayBeEmpty]
    [AlgorithmEntries]
    [ValueRule<SecretFileEntry>]
    public List<string> SecretFiles { get; set; } = [];

    /// <summary><c>auth.jwt.public_keys</c>: PEM files of public keys (or certificates): RSA keys verify RS256, EC keys ES256 (P-256), ES384 or ES512.</summary>
    [ConfigurationKeyName("public_keys")]
    [MayBeEmpty]
    [ValueRule<PublicKeyFile>]
    public List<string> PublicKeys { get; set; } = [];

    /// <summary><c>auth.jwt.jwks_url</c>: a JSON Web Key Set to fetch the public keys from (https, or http on a loopback host); empty: none.</summary>
    [ConfigurationKeyName("jwks_url")]
    [Masked(MaskKind.Url)]
    [ValueRule<JwksUrl>]
    public string JwksUrl { get; set; } = string.Empty;

    /// <summary><c>auth.jwt.jwks_refresh</c>: seconds a fetched key set is used before it is fetched again.</summary>
    [ConfigurationKeyName("jwks_refresh")]
    [Range(10, 86400)]
    public int JwksRefreshSeconds { get; set; } = 300;

    /// <summary><c>auth.jwt.jwks_cooldown</c>: the least seconds between two fetches, also those a token with an unknown key id (<c>kid</c>) asks for.</summary>
    [ConfigurationKeyName("jwks_cooldown")]
    [Range(1, 3600)]
    public int JwksCooldownSeconds { get; set; } = 10;

    /// <summary><c>auth.jwt.issuer</c>: accepted <c>iss</c> values; empty: not checked.</summary>
    [ConfigurationKeyName("issuer")]
    [MayBeEmpty]
    public List<string> Issuers { get; set; } = [];

    /// <summary><c>auth.jwt.audience</c>: accepted <c>aud</c> values (one is enough); empty: not checked.</summary>
    [ConfigurationKeyName("audience")]
    [MayBeEmpty]
    public List<string> Audiences { get; set; } = [];

    /// <summary><c>auth.jwt.clock_skew</c>: seconds by which the clocks of issuer and gateway may differ, for <c>exp</c> and <c>nbf</c>.</summary>
    [ConfigurationKeyName("clock_skew")]
    [Range(0, 600)]
    public int ClockSkewSeconds { get; set; } = 30;

    /// <summary>Whether any key is configured, and so every subscription needs a valid token.</summary>
    internal bool HasKeys =>
        Secret.Length > 0 || Secrets.Count > 0 || SecretFiles.Count > 0 || PublicKeys.Count > 0 || JwksUrl.Length > 0;
}
