using Eventsourced.Tests.Configuration;
using Eventsourced.Testing.Gateways;

namespace Eventsourced.Tests.Hosting;

public sealed class TlsConfigTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-tlscfg-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Load_BothPemFiles_AreAccepted_FromTheEnvironmentToo()
    {
        using var certificate = TestCertificate.Create();
        var (cert, key) = certificate.WriteTo(_directory.FullName);

        var options = ConfigTesting.Load("", ConfigTesting.Env(("EVENTSOURCED_SERVER__TLS__CERTIFICATE", cert), ("EVENTSOURCED_SERVER__TLS__KEY", key)));

        Assert.Equal(cert, options.Server.Tls["certificate"]);
        Assert.Equal(key, options.Server.Tls["key"]);
    }

    /// <summary><c>-c</c> printed the entries as the variables spelled them (<c>CERTIFICATE:</c>, <c>KEY:</c>), not as the schema names them.</summary>
    [Fact]
    public void Print_EntriesFromTheEnvironmentInCapitals_AreNamedAsTheSchemaNamesThem()
    {
        using var certificate = TestCertificate.Create();
        var (cert, key) = certificate.WriteTo(_directory.FullName);

        var options = ConfigTesting.Load("", ConfigTesting.Env(("EVENTSOURCED_SERVER__TLS__CERTIFICATE", cert), ("EVENTSOURCED_SERVER__TLS__Key", key)));

        Assert.Contains($"\n  tls:\n    certificate: {cert}\n    key: {key}\n", Eventsourced.Configuration.ConfigPrinter.ToYaml(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("server:\n  tls:\n    certificate: /x/cert.pem\n", "FILE:3: server.tls.certificate: needs both certificate and key (PEM files), or neither")]
    [InlineData("server:\n  tls:\n    cert: /x/cert.pem\n    key: /x/key.pem\n", "FILE:3: server.tls.cert: unknown entry 'cert' (known: certificate, key)")]
    public void Load_IncompleteOrUnknownEntries_AreRefused(string yaml, string expected) =>
        Assert.Contains(expected, ConfigTesting.Problems(yaml));

    [Fact]
    public void Load_HalfGivenByAVariable_NamesTheVariable() =>
        Assert.Equal(
            ["environment EVENTSOURCED_SERVER__TLS__KEY: server.tls.key: needs both certificate and key (PEM files), or neither"],
            ConfigTesting.EnvironmentProblems(("EVENTSOURCED_SERVER__TLS__KEY", "/x/key.pem")));

    [Fact]
    public void Load_FilesThatDoNotLoad_AreRefusedAtStart()
    {
        using var certificate = TestCertificate.Create();
        using var other = TestCertificate.Create();
        var (cert, _) = certificate.WriteTo(_directory.FullName);
        var otherDirectory = _directory.CreateSubdirectory("other");
        var (_, otherKey) = other.WriteTo(otherDirectory.FullName);

        var missing = ConfigTesting.Problems($"server:\n  tls:\n    certificate: {cert}.missing\n    key: {otherKey}\n");
        var mismatched = ConfigTesting.Problems($"server:\n  tls:\n    certificate: {cert}\n    key: {otherKey}\n");

        Assert.StartsWith("FILE:3: server.tls.certificate: cannot load certificate", Assert.Single(missing), StringComparison.Ordinal);
        Assert.StartsWith("FILE:3: server.tls.certificate: cannot load certificate", Assert.Single(mismatched), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AnEncryptedKey_IsRefusedAsEncrypted()
    {
        using var certificate = TestCertificate.Create();
        var (cert, key) = certificate.WriteTo(_directory.FullName);
        using (var ec = System.Security.Cryptography.ECDsa.Create())
        {
            ec.ImportFromPem(certificate.KeyPem);
            File.WriteAllText(key, ec.ExportEncryptedPkcs8PrivateKeyPem("secret", new(System.Security.Cryptography.PbeEncryptionAlgorithm.Aes256Cbc, System.Security.Cryptography.HashAlgorithmName.SHA256, 1000)));
        }

        var problem = Assert.Single(ConfigTesting.Problems($"server:\n  tls:\n    certificate: {cert}\n    key: {key}\n"));

        // Before: "The key contents do not contain a PEM, the content is malformed, or the key does not match the certificate."
        Assert.Equal($"FILE:3: server.tls.certificate: cannot load certificate '{cert}' with key '{key}': {key} is an encrypted (password-protected) private key: give it unencrypted (openssl pkey -in KEY -out PLAIN.pem), readable by the gateway's user only", problem);
    }

    [Fact]
    public void Load_ACertificateAsTheKey_IsRefusedAsNoKey()
    {
        using var certificate = TestCertificate.Create();
        var (cert, _) = certificate.WriteTo(_directory.FullName);

        var problem = Assert.Single(ConfigTesting.Problems($"server:\n  tls:\n    certificate: {cert}\n    key: {cert}\n"));

        Assert.EndsWith($": {cert} holds no private key (no PEM block labelled PRIVATE KEY)", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    public async Task Load_AnEndlessFile_IsRefused_NotReadForever(string endless)
    {
        using var certificate = TestCertificate.Create();
        var (cert, key) = certificate.WriteTo(_directory.FullName);

        var asCertificate = Task.Run(() => ConfigTesting.Problems($"server:\n  tls:\n    certificate: {endless}\n    key: {key}\n"));
        var asKey = Task.Run(() => ConfigTesting.Problems($"server:\n  tls:\n    certificate: {cert}\n    key: {endless}\n"));

        // Before, CreateFromPemFile read on until memory ran out.
        await Task.WhenAll(asCertificate, asKey).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith($"FILE:3: server.tls.certificate: cannot load certificate '{endless}'", Assert.Single(await asCertificate), StringComparison.Ordinal);
        Assert.Contains($"{endless} is empty or not a regular file (a device or a pipe): nothing to read", Assert.Single(await asKey), StringComparison.Ordinal);
    }
}
