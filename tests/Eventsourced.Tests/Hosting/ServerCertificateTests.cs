using Eventsourced.Hosting;
using Eventsourced.Logging;
using Eventsourced.Testing.Gateways;

namespace Eventsourced.Tests.Hosting;

/// <summary>The certificate of <c>server.tls</c> reloaded from its files: a broken pair is logged once, not at every change of its directory.</summary>
public sealed class ServerCertificateTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("es-tlsreload-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task BrokenPair_IsLoggedOnce_OtherFilesOfItsDirectoryChanging_ThenAFixedPairLoads()
    {
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        await File.WriteAllTextAsync(certificatePath, "not a certificate\n", CancellationToken.None);
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the broken pair is logged");

        // Another file of the directory changes (a log written beside the certificate, say): each change makes the
        // watcher fire, but the pair is as broken as it was. Logged again each time, a log file there fed itself.
        var other = Path.Combine(_directory.FullName, "gateway.log");
        for (var i = 0; i < 4; i++)
        {
            await File.AppendAllTextAsync(other, $"line {i}\n", CancellationToken.None);
            await Task.Delay(TimeSpan.FromMilliseconds(600), CancellationToken.None);
        }

        Assert.Equal(1, Count(log, EventIds.CertificateReloadFailed));
        Assert.Equal(first.Certificate.Thumbprint, served.Current.Thumbprint);

        second.WriteTo(_directory.FullName);
        await WaitAsync(() => served.Current.Thumbprint == second.Certificate.Thumbprint, "the fixed pair is loaded");
    }

    private static int Count(CollectedLog log, int eventId) => log.Entries.Count(e => e.EventId == eventId);

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(50, CancellationToken.None);
        }
    }
}
