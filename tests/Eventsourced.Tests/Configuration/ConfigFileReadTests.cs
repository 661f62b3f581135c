using System.Diagnostics;
using Eventsourced.Testing.Gateways;

namespace Eventsourced.Tests.Configuration;

/// <summary>
/// Files the configuration names (<c>server.tls</c>, <c>auth.jwt.secret_files</c>, <c>auth.jwt.public_keys</c>) that
/// are no files to read: a device is not read until memory runs out (the process aborted with "Out of memory"), a
/// FIFO does not hold the start-up waiting for a writer; each is a configuration problem naming file, line and key.
/// </summary>
public sealed class ConfigFileReadTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-cfgfiles-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    [InlineData("FIFO")]
    public async Task JwtKeyFiles_ThatAreNoRegularFiles_AreRefused_NotReadForeverOrWaitedFor(string file)
    {
        var path = file == "FIFO" ? Fifo() : file;

        var secret = Task.Run(() => ConfigTesting.Problems($"auth:\n  jwt:\n    secret_files: ['HS256:{path}']\n"));
        var publicKey = Task.Run(() => ConfigTesting.Problems($"auth:\n  jwt:\n    public_keys: ['{path}']\n"));

        await Task.WhenAll(secret, publicKey).WaitAsync(Patience);
        var expected = $"{path} is empty or not a regular file (a device or a pipe): nothing to read";
        Assert.StartsWith($"FILE:3: auth.jwt.secret_files[0]: cannot read '{path}': {expected}", Assert.Single(await secret), StringComparison.Ordinal);
        Assert.StartsWith($"FILE:3: auth.jwt.public_keys[0]: cannot read '{path}': {expected}", Assert.Single(await publicKey), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsFile_ThatIsAFifo_IsRefused_NotWaitedFor()
    {
        using var certificate = TestCertificate.Create();
        var (_, key) = certificate.WriteTo(_directory.FullName);
        var fifo = Fifo();

        var problems = await Task.Run(() => ConfigTesting.Problems($"server:\n  tls:\n    certificate: {fifo}\n    key: {key}\n")).WaitAsync(Patience);

        Assert.StartsWith($"FILE:3: server.tls.certificate: cannot load certificate '{fifo}'", Assert.Single(problems), StringComparison.Ordinal);
        Assert.Contains("not a regular file", problems[0], StringComparison.Ordinal);
    }

    [Fact]
    public void SecretFile_LargerThanAMebibyte_IsRefused()
    {
        var path = Path.Combine(_directory.FullName, "huge");
        File.WriteAllBytes(path, new byte[(1024 * 1024) + 1]);

        Assert.StartsWith(
            $"FILE:3: auth.jwt.secret_files[0]: cannot read '{path}': {path} is larger than 1 MiB: not a secret file",
            ConfigTesting.Problems($"auth:\n  jwt:\n    secret_files: ['HS256:{path}']\n").Single(),
            StringComparison.Ordinal);
    }

    [Fact]
    public void SecretFile_ThroughSymbolicLinks_AsKubernetesMountsSecrets_IsRead()
    {
        var data = _directory.CreateSubdirectory("..2026_12_05");
        File.WriteAllText(Path.Combine(data.FullName, "jwt"), "0123456789abcdef0123456789abcdef\n");
        File.CreateSymbolicLink(Path.Combine(_directory.FullName, "..data"), data.Name);
        var link = Path.Combine(_directory.FullName, "jwt");
        File.CreateSymbolicLink(link, Path.Combine("..data", "jwt"));

        var options = ConfigTesting.Load($"auth:\n  jwt:\n    secret_files: ['HS256:{link}']\n");

        Assert.Equal([$"HS256:{link}"], options.Auth.Jwt.SecretFiles);
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/urandom")]
    public async Task ConfigFile_ThatIsADevice_IsRefused_NotReadUntilMemoryRunsOut(string device)
    {
        var load = Task.Run(() => Assert.Throws<Eventsourced.Configuration.ConfigException>(() => ConfigTesting.LoadSources([], device, ConfigTesting.NoEnvironment)));

        var refused = await load.WaitAsync(Patience);
        Assert.Equal($"{device}: cannot read: {device} is larger than 1 MiB: not a configuration file", refused.Message);
    }

    [Fact]
    public void ConfigFile_ThroughAPipe_IsStillRead()
    {
        // --config /dev/stdin with the file piped in: not a regular file, and not refused for it.
        using var sh = Process.Start(new ProcessStartInfo("sh", ["-c", "printf 'queue:\\n  expires: 42\\n' > \"$0\"", Fifo()]));
        var options = ConfigTesting.LoadSources([], Path.Combine(_directory.FullName, "fifo"), ConfigTesting.NoEnvironment).Options;
        sh!.WaitForExit();

        Assert.Equal(42, options.Queue.ExpiresSeconds);
    }

    private string Fifo()
    {
        var path = Path.Combine(_directory.FullName, "fifo");
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }
}
