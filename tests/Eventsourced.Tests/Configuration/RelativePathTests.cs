using Eventsourced.Configuration;
using Eventsourced.Testing.Gateways;

namespace Eventsourced.Tests.Configuration;

/// <summary>
/// Relative file paths in a configuration file are taken from its directory: the tests run in their bin directory,
/// where none of these files is, as a gateway started by a service manager runs in <c>/</c>.
/// </summary>
public sealed class RelativePathTests : IDisposable
{
    private const string Secret = "0123456789abcdef0123456789abcdef-relative";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-relpath-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Load_RelativePathsInAFile_AreTakenFromTheFilesDirectory()
    {
        using var certificate = TestCertificate.Create();
        var files = _directory.CreateSubdirectory("files").FullName;
        certificate.WriteTo(files);
        File.WriteAllText(Path.Combine(files, "secret"), Secret);
        File.WriteAllText(Path.Combine(files, "public.pem"), certificate.CertificatePem);
        var config = Path.Combine(_directory.FullName, "config.yml");
        File.WriteAllText(config, """
            server:
              tls:
                certificate: files/cert.pem
                key: ./files/key.pem
            auth:
              jwt:
                secret_files: ['HS256:files/secret']
                public_keys: [files/public.pem]
            """);

        var loaded = ConfigTesting.LoadSources([], config, ConfigTesting.NoEnvironment);

        var options = loaded.Options;
        Assert.Equal(Path.Combine(files, "cert.pem"), Path.GetFullPath(options.Server.Tls["certificate"]));
        Assert.Equal(Path.Combine(files, "key.pem"), Path.GetFullPath(options.Server.Tls["key"]));
        Assert.Equal(["HS256:" + Path.Combine(_directory.FullName, "files/secret")], options.Auth.Jwt.SecretFiles);
        Assert.Equal([Path.Combine(_directory.FullName, "files/public.pem")], options.Auth.Jwt.PublicKeys);
    }

    [Fact]
    public void Load_RelativePathFromAVariable_StaysAsGiven()
    {
        var config = Path.Combine(_directory.FullName, "config.yml");
        File.WriteAllText(config, "auth:\n  jwt:\n    public_keys: [/abs/public.pem]\n");

        var problems = Assert.Throws<ConfigException>(() => ConfigTesting.LoadSources([], config,
            ConfigTesting.Env(("EVENTSOURCED_AUTH__JWT__SECRET_FILES", "HS256:no-such-secret")))).Message;

        // The working directory's, as a shell user means it; never the configuration file's.
        Assert.Contains("cannot read 'no-such-secret'", problems, StringComparison.Ordinal);
        Assert.Contains("/abs/public.pem", problems, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AbsolutePathsInAFile_StayAsGiven()
    {
        var secret = Path.Combine(_directory.FullName, "secret");
        File.WriteAllText(secret, Secret);
        var config = Path.Combine(_directory.CreateSubdirectory("etc").FullName, "config.yml");
        File.WriteAllText(config, $"auth:\n  jwt:\n    secret_files: ['HS256:{secret}']\n");

        Assert.Equal(["HS256:" + secret], ConfigTesting.LoadSources([], config, ConfigTesting.NoEnvironment).Options.Auth.Jwt.SecretFiles);
    }
}
