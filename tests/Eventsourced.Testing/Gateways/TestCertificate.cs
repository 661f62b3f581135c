using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Eventsourced.Testing.Gateways;

/// <summary>A self-signed certificate for <c>127.0.0.1</c> and <c>localhost</c>, written as PEM files for <c>server.tls</c>.</summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 certificate, string certificatePem, string keyPem)
    {
        Certificate = certificate;
        CertificatePem = certificatePem;
        KeyPem = keyPem;
    }

    public X509Certificate2 Certificate { get; }

    public string CertificatePem { get; }

    public string KeyPem { get; }

    /// <summary>Base64 of the SHA-256 of the certificate's public key info: Chromium's <c>--ignore-certificate-errors-spki-list</c>.</summary>
    public string SpkiHash => Convert.ToBase64String(SHA256.HashData(Certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    public static TestCertificate Create(string commonName = "eventsourced test")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(2));
        return new TestCertificate(certificate, certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Writes both PEM files (replacing what is there) and returns their paths.</summary>
    public (string Certificate, string Key) WriteTo(string directory)
    {
        var certificatePath = Path.Combine(directory, "cert.pem");
        var keyPath = Path.Combine(directory, "key.pem");
        File.WriteAllText(keyPath, KeyPem);
        File.WriteAllText(certificatePath, CertificatePem);
        return (certificatePath, keyPath);
    }

    public void Dispose() => Certificate.Dispose();
}
