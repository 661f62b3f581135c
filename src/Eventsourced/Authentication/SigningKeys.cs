using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Topics;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Authentication;

/// <summary>
/// The keys of <c>auth.jwt</c> that the configuration holds (secrets, secret files, PEM public keys), read
/// once at start. The JWKS URL's keys are <see cref="JwksKeys"/>'. Every value was checked by the rules below
/// when the configuration was loaded, so a bad key stops the gateway with exit 78 and the file and line.
/// </summary>
internal static class SigningKeys
{
    /// <summary>RFC 7518 section 3.2: an HMAC key at least as long as the hash.</summary>
    private static readonly Dictionary<string, int> SecretBytes = new(StringComparer.Ordinal)
    {
        [SecurityAlgorithms.HmacSha256] = 32,
        [SecurityAlgorithms.HmacSha384] = 48,
        [SecurityAlgorithms.HmacSha512] = 64,
    };

    public static List<VerificationKey> Load(JwtOptions options)
    {
        var keys = new List<VerificationKey>();
        if (options.Secret.Length > 0)
        {
            keys.Add(Secret(SecurityAlgorithms.HmacSha256, Encoding.UTF8.GetBytes(options.Secret), "auth.jwt.secret"));
        }

        for (var i = 0; i < options.Secrets.Count; i++)
        {
            var (algorithm, secret) = Split(options.Secrets[i]);
            keys.Add(Secret(algorithm, Encoding.UTF8.GetBytes(secret), $"auth.jwt.secrets[{i}]"));
        }

        foreach (var entry in options.SecretFiles)
        {
            var (algorithm, path) = Split(entry);
            keys.Add(Secret(algorithm, ReadSecretFile(path), $"secret file {path}"));
        }

        foreach (var path in options.PublicKeys)
        {
            keys.Add(ReadPublicKey(path, out var problem) ?? throw new InvalidOperationException($"auth.jwt.public_keys: {path}: {problem}"));
        }

        return keys;
    }

    /// <summary>The problem with an HMAC secret for <paramref name="algorithm"/>, or null. Never quotes the secret.</summary>
    public static string? SecretProblem(string algorithm, int bytes) =>
        !SecretBytes.TryGetValue(algorithm, out var least) ? "expected ALGORITHM:SECRET with HS256, HS384 or HS512 (the value is not shown)"
        : bytes < least ? $"an {algorithm} secret must be at least {least} bytes, got {bytes}"
        : null;

    /// <summary><c>ALGORITHM:VALUE</c>; the algorithm in upper case.</summary>
    public static (string Algorithm, string Value) Split(string entry)
    {
        var colon = entry.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (string.Empty, entry) : (entry[..colon].Trim().ToUpperInvariant(), entry[(colon + 1)..]);
    }

    public static byte[] ReadSecretFile(string path)
    {
        var bytes = ConfigFiles.Read(path, "a secret file");
        var length = bytes.Length;
        if (length > 0 && bytes[length - 1] == '\n')
        {
            length--;
            if (length > 0 && bytes[length - 1] == '\r')
            {
                length--;
            }
        }

        return bytes[..length];
    }

    /// <summary>A PEM public key or certificate: RSA verifies RS256; EC verifies ES256, ES384 or ES512 by its curve.</summary>
    public static VerificationKey? ReadPublicKey(string path, out string? problem)
    {
        string text;
        try
        {
            text = System.Text.Encoding.UTF8.GetString(ConfigFiles.Read(path, "a PEM file"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"cannot read {ConfigText.Quote(path)}: {ex.Message}";
            return null;
        }

        if (text.Contains("PRIVATE KEY", StringComparison.Ordinal))
        {
            problem = $"{ConfigText.Quote(path)} holds a private key; give the gateway the public key only";
            return null;
        }

        var source = $"public key {path}";
        try
        {
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                using var certificate = X509Certificate2.CreateFromPem(text);
                if (certificate.GetRSAPublicKey() is { } certificateRsa)
                {
                    return Rsa(certificateRsa, source, out problem);
                }

                if (certificate.GetECDsaPublicKey() is { } certificateEc)
                {
                    return EllipticCurve(certificateEc, source, out problem);
                }

                problem = $"{ConfigText.Quote(path)}: the certificate's key is neither RSA nor EC";
                return null;
            }

            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(text);
                return Rsa(rsa, source, out problem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                rsa.Dispose();
            }

            var ec = ECDsa.Create();
            try
            {
                ec.ImportFromPem(text);
                return EllipticCurve(ec, source, out problem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                ec.Dispose();
            }
        }
        catch (CryptographicException ex)
        {
            problem = $"{ConfigText.Quote(path)}: {ex.Message}";
            return null;
        }

        problem = $"{ConfigText.Quote(path)} holds no PEM RSA or EC public key (-----BEGIN PUBLIC KEY-----) or certificate";
        return null;
    }

    private static VerificationKey Secret(string algorithm, byte[] secret, string source) =>
        SecretProblem(algorithm, secret.Length) is { } problem
            ? throw new InvalidOperationException($"{source}: {problem}")
            : new VerificationKey(new SymmetricSecurityKey(secret), algorithm, source);

    private static VerificationKey? Rsa(RSA rsa, string source, out string? problem)
    {
        problem = rsa.KeySize < 2048 ? $"an RSA key must have at least 2048 bits, got {rsa.KeySize}" : null;
        return problem is null ? new VerificationKey(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256, source) : null;
    }

    private static VerificationKey? EllipticCurve(ECDsa ec, string source, out string? problem)
    {
        var algorithm = ec.KeySize switch
        {
            256 => SecurityAlgorithms.EcdsaSha256,
            384 => SecurityAlgorithms.EcdsaSha384,
            521 => SecurityAlgorithms.EcdsaSha512,
            _ => null,
        };
        problem = algorithm is null ? $"an EC key must be on P-256, P-384 or P-521, got {ec.KeySize} bits" : null;
        return algorithm is null ? null : new VerificationKey(new ECDsaSecurityKey(ec), algorithm, source);
    }
}

/// <summary><c>auth.jwt.secret</c>: empty, or an HS256 secret of at least 32 bytes.</summary>
internal sealed class SharedSecret : IValueRule
{
    private SharedSecret()
    {
    }

    public static string? Check(string value) =>
        value.Length == 0 ? null : SigningKeys.SecretProblem(SecurityAlgorithms.HmacSha256, Encoding.UTF8.GetByteCount(value));
}

/// <summary>An entry of <c>auth.jwt.secrets</c>: <c>HS256:SECRET</c>, <c>HS384:SECRET</c> or <c>HS512:SECRET</c>.</summary>
internal sealed class SecretEntry : IValueRule
{
    private SecretEntry()
    {
    }

    public static string? Check(string value)
    {
        var (algorithm, secret) = SigningKeys.Split(value);
        return SigningKeys.SecretProblem(algorithm, Encoding.UTF8.GetByteCount(secret));
    }
}

/// <summary>An entry of <c>auth.jwt.secret_files</c>: <c>HS256:PATH</c> (or HS384, HS512) of a readable file holding the secret.</summary>
internal sealed class SecretFileEntry : IValueRule
{
    private SecretFileEntry()
    {
    }

    public static string? Check(string value)
    {
        var (algorithm, path) = SigningKeys.Split(value);
        if (path.Length == 0 || SigningKeys.SecretProblem(algorithm, int.MaxValue) is not null)
        {
            return $"expected ALGORITHM:PATH with HS256, HS384 or HS512, got {ConfigText.Quote(value)}";
        }

        try
        {
            return SigningKeys.SecretProblem(algorithm, SigningKeys.ReadSecretFile(path).Length) is { } problem ? $"{path}: {problem}" : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot read {ConfigText.Quote(path)}: {ex.Message}";
        }
    }
}

/// <summary>An entry of <c>auth.jwt.public_keys</c>: a readable PEM file with an RSA (2048 bits or more) or EC public key or certificate.</summary>
internal sealed class PublicKeyFile : IValueRule
{
    private PublicKeyFile()
    {
    }

    public static string? Check(string value)
    {
        _ = SigningKeys.ReadPublicKey(value, out var problem);
        return problem;
    }
}

/// <summary><c>auth.jwt.jwks_url</c>: empty, or an absolute https URL (http only for a loopback host: the keys must not be tampered with).</summary>
internal sealed class JwksUrl : IValueRule
{
    private JwksUrl()
    {
    }

    public static string? Check(string value) =>
        value.Length == 0 ? null
        // HttpClient sends no credentials from a URL's user-info, and the URL is printed by -c and in the log: refused,
        // without repeating it.
        : Uri.TryCreate(value, UriKind.Absolute, out var withUser) && withUser.UserInfo.Length > 0
            ? "must not contain a user name or password (they would not be sent, and the URL is logged)"
        : !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") ? $"must be an absolute https:// URL, got {ConfigText.Quote(SecretUrl.Mask(value))}"
        : uri.Scheme == "http" && !uri.IsLoopback ? $"must be https:// (http:// only for a loopback host), got {ConfigText.Quote(SecretUrl.Mask(value))}"
        : null;
}

/// <summary>A cookie name (<c>auth.from_cookie</c>): empty, or an RFC 6265 token.</summary>
internal sealed class CookieName : IValueRule
{
    private CookieName()
    {
    }

    public static string? Check(string value) =>
        value.Length == 0 || value.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal))
            ? null
            : $"invalid cookie name {ConfigText.Quote(value)} (allowed: letters, digits and !#$%&'*+-.^_`|~)";
}

/// <summary>
/// A kind of subscription in <c>auth.read_claims</c>: <c>queue</c> or <c>topic</c>. Another name (<c>queues</c>, a
/// typo) would be read by nothing and leave the kind it meant with its default claim.
/// </summary>
internal sealed class SubscriptionKindName : IValueRule
{
    private SubscriptionKindName()
    {
    }

    public static string? Check(string value) =>
        value.Equals(QueueTarget.KindName, StringComparison.OrdinalIgnoreCase) || value.Equals(TopicTarget.KindName, StringComparison.OrdinalIgnoreCase)
            ? null
            : $"expected a kind of subscription, {QueueTarget.KindName} or {TopicTarget.KindName}, got {ConfigText.Quote(value)}";
}

/// <summary>A claim name: any text without control characters.</summary>
internal sealed class ClaimName : IValueRule
{
    private ClaimName()
    {
    }

    public static string? Check(string value) =>
        value.Any(char.IsControl) ? $"a claim name must not contain control characters, got {ConfigText.Quote(value)}" : null;
}
