using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.Configuration;

namespace Eventsourced.Hosting;

/// <summary>An entry name of <c>server.tls</c>: <c>certificate</c> or <c>key</c>.</summary>
internal sealed class TlsEntry : IValueRule
{
    public const string Certificate = "certificate";
    public const string Key = "key";

    private TlsEntry()
    {
    }

    public static string? Check(string name) =>
        name.Equals(Certificate, StringComparison.OrdinalIgnoreCase) || name.Equals(Key, StringComparison.OrdinalIgnoreCase) ? null : $"unknown entry {ConfigText.Quote(name)} (known: {Certificate}, {Key})";
}

/// <summary>A file path of <c>server.tls</c>.</summary>
internal sealed class TlsPath : IValueRule
{
    private TlsPath()
    {
    }

    public static string? Check(string path) =>
        path.Length == 0 || path.Any(char.IsControl) ? $"expected a file path, got {ConfigText.Quote(path)}" : null;
}

/// <summary><c>server.tls</c>: both PEM files or neither, and they must load (a certificate with its private key).</summary>
internal static class TlsFiles
{
    public static bool Enabled(ServerOptions server) => server.Tls.Count > 0;

    /// <summary>The problems of <c>server.tls</c>, each at the place of the entry that a source set.</summary>
    public static IEnumerable<ConfigProblem> Check(GatewayOptions options, ConfigOrigins origins)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(origins);
        var tls = options.Server.Tls;
        if (tls.Count == 0)
        {
            yield break;
        }

        if (!tls.TryGetValue(TlsEntry.Certificate, out var certificate) || !tls.TryGetValue(TlsEntry.Key, out var key))
        {
            var given = tls.ContainsKey(TlsEntry.Certificate) ? TlsEntry.Certificate : tls.ContainsKey(TlsEntry.Key) ? TlsEntry.Key : tls.Keys.First();
            yield return new ConfigProblem(origins.Of($"server:tls:{given}"), $"server.tls.{given}", "needs both certificate and key (PEM files), or neither");
            yield break;
        }

        string? problem = null;
        try
        {
            using var loaded = Load(certificate, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            problem = $"cannot load certificate {ConfigText.Quote(certificate)} with key {ConfigText.Quote(key)}: {ex.Message}";
        }

        if (problem is not null)
        {
            yield return new ConfigProblem(origins.Of($"server:tls:{TlsEntry.Certificate}"), $"server.tls.{TlsEntry.Certificate}", problem);
        }
    }

    /// <summary>Why <paramref name="certificate"/> is not valid at <paramref name="now"/> (expired, or not yet valid); null when it is.</summary>
    public static string? Validity(X509Certificate2 certificate, DateTimeOffset now) =>
        certificate.NotAfter.ToUniversalTime() < now.UtcDateTime ? $"expired on {certificate.NotAfter.ToUniversalTime():u}"
        : certificate.NotBefore.ToUniversalTime() > now.UtcDateTime ? $"is not valid before {certificate.NotBefore.ToUniversalTime():u}"
        : null;

    /// <summary>The certificate (with its chain's first certificate) and its private key, from PEM files.</summary>
    public static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        // Read here, at most 1 MiB each and regular files only (ConfigFiles), rather than with CreateFromPemFile,
        // which reads a file whole: a path such as /dev/zero or a huge file by mistake held the start-up (or a reload)
        // reading forever.
        var keyPem = ReadPem(keyPath);
        if (KeyProblem(keyPem) is { } problem)
        {
            throw new CryptographicException($"{keyPath} {problem}");
        }

        var certificate = X509Certificate2.CreateFromPem(ReadPem(certificatePath), keyPem);
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CryptographicException("the key does not belong to the certificate");
        }

        return certificate;
    }

    /// <summary>
    /// Why <paramref name="pem"/> cannot be the key, when that can be told from its labels: an encrypted key (the runtime
    /// says only that the content "is malformed, or the key does not match the certificate", and an operator looks for
    /// a password setting there is none of), or no private key at all (a certificate given as the key).
    /// </summary>
    private static string? KeyProblem(string pem)
    {
        if (pem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal) || pem.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
        {
            return "is an encrypted (password-protected) private key: give it unencrypted (openssl pkey -in KEY -out PLAIN.pem), readable by the gateway's user only";
        }

        return pem.Contains("PRIVATE KEY-----", StringComparison.Ordinal) ? null : "holds no private key (no PEM block labelled PRIVATE KEY)";
    }

    private static string ReadPem(string path) => System.Text.Encoding.UTF8.GetString(Configuration.ConfigFiles.Read(path, "a PEM file"));
}
