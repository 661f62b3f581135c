using Eventsourced.Hosting;
using Eventsourced.Logging;
using Eventsourced.Testing;
using Eventsourced.Testing.Gateways;
using Eventsourced.Tests.Metrics;
using Microsoft.Extensions.Logging;

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

    [Fact]
    public async Task BrokenPair_ThenThePairInUsePutBack_IsLoggedAsLoaded()
    {
        // The old, good pair restored after a broken one loaded (the metric went back to 0) but logged nothing: the
        // last line said "cannot be loaded", as if the files were broken still.
        using var first = TestCertificate.Create("first");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        var metrics = new TestMetrics();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"), metrics.Gateway);
        Assert.Equal(1, Count(log, EventIds.CertificateLoaded));

        await File.WriteAllTextAsync(keyPath, "not a key\n", CancellationToken.None);
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the broken key is logged");
        Assert.Equal(1, metrics.Scrape().Value(Failing));

        first.WriteTo(_directory.FullName);
        await WaitAsync(() => metrics.Scrape().Value(Failing) == 0, "the restored pair loads");
        await WaitAsync(() => Count(log, EventIds.CertificateLoaded) >= 2, "the restored pair is logged as in use");

        Assert.Equal(first.Certificate.Thumbprint, served.Current.Thumbprint);
        var last = log.Entries.Last(e => e.EventId is EventIds.CertificateLoaded or EventIds.CertificateReloadFailed);
        Assert.Equal(EventIds.CertificateLoaded, last.EventId);
        Assert.Contains(first.Certificate.Thumbprint, last.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PairChangedBetweenTheCheckAndTheStart_IsAConfigurationError_NotAnUnhandledException()
    {
        // Seen with the published gateway: a key swapped while it started (a renewal half written) passed the loader's
        // check, then failed the host's validation of the same options: "Unhandled exception.
        // Microsoft.Extensions.Options.OptionsValidationException" and a stack trace, not exit 78.
        var (file, error) = PairChangedAfterTheCheck(string.Empty);

        Assert.Contains($"{file}:4: server.tls.certificate:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PairChangedBetweenTheCheckAndTheStart_JsonLogs_OneEntryPerProblemNamingFileLineAndKey()
    {
        // With log.format: json, this late exit 78 was the only one printed as plain text on stderr ("eventsourced: invalid
        // configuration" and the lines), where every other is one JSON entry of event 151 per problem naming File, Line, Key.
        var (file, error) = PairChangedAfterTheCheck("""
            log:
              format: json

            """);
        var log = new StateLog();

        GatewayApplication.LogConfigurationProblems(log, GatewayApplication.Detailed(error));

        Assert.Equal(error.Problems.Count, log.Entries.Count);
        var (level, eventId, message, state) = Assert.Single(log.Entries, e => e.State.ContainsKey("Key") && (string?)e.State["Key"] == "server.tls.certificate");
        Assert.Equal(LogLevel.Critical, level);
        Assert.Equal(EventIds.ConfigurationInvalid, eventId);
        Assert.StartsWith($"invalid configuration: {file}:6: server.tls.certificate: cannot load certificate", message, StringComparison.Ordinal);
        Assert.Equal(file, state["File"]);
        Assert.Equal(6L, Convert.ToInt64(state["Line"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("cannot load certificate", (string?)state["Problem"], StringComparison.Ordinal);
    }

    /// <summary>
    /// A configuration (<paramref name="before"/>, then a TLS pair and a broker) loaded and checked, its key then swapped for
    /// another pair's, as a renewal half written while the gateway starts: the file, and the host's build's error.
    /// </summary>
    private (string File, Eventsourced.Configuration.ConfigException Error) PairChangedAfterTheCheck(string before)
    {
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        var file = Path.Combine(_directory.FullName, "config.yml");
        File.WriteAllText(file, before + $"""
            server:
              address: 127.0.0.1:{FreePort.Next()}
              tls:
                certificate: {certificatePath}
                key: {keyPath}
            broker:
              node: [amqp://guest:guest@127.0.0.1:{FreePort.Next()}/]
            """);
        var config = Eventsourced.Configuration.ConfigLoader.Load(new Eventsourced.Configuration.ConfigSources([], file));

        File.WriteAllText(keyPath, second.KeyPem);

        var error = Assert.Throws<Eventsourced.Configuration.ConfigException>(() => GatewayApplication.Build(config).DisposeAsync().AsTask().GetAwaiter().GetResult());
        return (file, error);
    }

    [Fact]
    public void Loaded_TheExpiryIsAnIsoTimeInUtc()
    {
        // Logged as a DateTime, the JSON format wrote its State month first without a zone ("01/05/2027 20:07:50").
        using var first = TestCertificate.Create("first");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        var loaded = Assert.Single(log.Entries, e => e.EventId == EventIds.CertificateLoaded);
        var expiry = first.Certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"valid until {expiry})", loaded.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokenKey_TheWarningNamesBothFiles()
    {
        // The warning named the certificate's path alone, also when the key was what could not be read.
        using var first = TestCertificate.Create("first");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        await File.WriteAllTextAsync(keyPath, "not a key\n", CancellationToken.None);
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the broken key is logged");

        var warning = Assert.Single(log.Entries, e => e.EventId == EventIds.CertificateReloadFailed);
        Assert.Contains(certificatePath, warning.Message, StringComparison.Ordinal);
        Assert.Contains($"key {keyPath}", warning.Message, StringComparison.Ordinal);
        Assert.Equal(first.Certificate.Thumbprint, served.Current.Thumbprint);
    }

    [Fact]
    public async Task KubernetesSecret_ABrokenPairSwappedIn_ThenAFixedOne_TheFixedOneLoads()
    {
        // A Kubernetes secret volume: tls.crt and tls.key are links to ..data/tls.crt and ..data/tls.key, ..data a link to
        // a directory of the version; an update writes a new directory and renames a new ..data link over the old one.
        // The links themselves never change: a pair that failed once was taken as unchanged for ever, and every fixed
        // secret after it was passed over until a restart.
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        var root = _directory.FullName;
        var version = 0;
        void Swap(string certificatePem, string keyPem)
        {
            var directory = Path.Combine(root, $"..version_{++version}");
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "tls.crt"), certificatePem);
            File.WriteAllText(Path.Combine(directory, "tls.key"), keyPem);
            var temporary = Path.Combine(root, "..data_tmp");
            File.CreateSymbolicLink(temporary, directory);
            // rename(2) of the new link over the old one, as Kubernetes does (File.Move refuses a link to a directory).
            using var rename = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mv") { ArgumentList = { "-T", temporary, Path.Combine(root, "..data") } })!;
            rename.WaitForExit();
            Assert.Equal(0, rename.ExitCode);
        }

        Swap(first.CertificatePem, first.KeyPem);
        var certificatePath = Path.Combine(root, "tls.crt");
        var keyPath = Path.Combine(root, "tls.key");
        File.CreateSymbolicLink(certificatePath, Path.Combine("..data", "tls.crt"));
        File.CreateSymbolicLink(keyPath, Path.Combine("..data", "tls.key"));
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));
        Assert.Equal(first.Certificate.Thumbprint, served.Current.Thumbprint);

        Swap(second.CertificatePem, first.KeyPem);
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the mismatched pair is logged");
        Assert.Equal(first.Certificate.Thumbprint, served.Current.Thumbprint);

        Swap(second.CertificatePem, second.KeyPem);
        await WaitAsync(() => served.Current.Thumbprint == second.Certificate.Thumbprint, "the fixed pair is loaded");
    }

    [Fact]
    public async Task RenewalWritingTheCertificateThenTheKey_ASecondApart_LoadsWithoutAWarning()
    {
        // A renewal that copies the two files in place one after the other (a deploy hook, two cp's): between them the
        // new certificate does not match the old key. That half-written pair was logged as one that cannot be loaded
        // (event 109, a warning) at every renewal, a second before the new pair was loaded.
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        await File.WriteAllTextAsync(certificatePath, second.CertificatePem, CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
        await File.WriteAllTextAsync(keyPath, second.KeyPem, CancellationToken.None);
        await WaitAsync(() => served.Current.Thumbprint == second.Certificate.Thumbprint, "the new pair is loaded");

        Assert.Equal(0, Count(log, EventIds.CertificateReloadFailed));
    }

    [Fact]
    public void ExpiredAtStart_IsServed_AndLoggedAsExpired()
    {
        var (certificatePath, keyPath) = WriteExpired("expired");
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        var warning = Assert.Single(log.Entries, e => e.EventId == EventIds.CertificateNotValidNow);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains("expired on 2020-02-01 00:00:00Z: clients refuse it", warning.Message, StringComparison.Ordinal);
        Assert.Equal("CN=expired", served.Current.Subject);
    }

    [Fact]
    public async Task ExpiredInPlaceOfAValidOne_IsNotTaken_TheValidOneStays()
    {
        using var valid = TestCertificate.Create("valid");
        var (certificatePath, keyPath) = valid.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"));

        WriteExpired("expired");
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the expired pair is refused");

        Assert.Contains(log.Entries, e => e.EventId == EventIds.CertificateReloadFailed && e.Message.EndsWith("(the new certificate expired on 2020-02-01 00:00:00Z); keeping the one in use", StringComparison.Ordinal));
        Assert.Equal(valid.Certificate.Thumbprint, served.Current.Thumbprint);
    }

    [Fact]
    public async Task Metrics_ShowTheExpiryInUse_AndAFailingReloadUntilAPairLoads()
    {
        // Only the log said that a renewal did not load, once: nothing Prometheus could alert on before the old
        // certificate, still served, expired.
        using var first = TestCertificate.Create("first");
        using var second = TestCertificate.Create("second");
        var (certificatePath, keyPath) = first.WriteTo(_directory.FullName);
        using var log = new CollectedLog();
        var metrics = new TestMetrics();
        using var served = new ServerCertificate(certificatePath, keyPath, TimeProvider.System, log.CreateLogger("Eventsourced.Tls"), metrics.Gateway);

        Assert.Equal(UnixSeconds(first.Certificate.NotAfter), metrics.Scrape().Value(Expiry));
        Assert.Equal(0, metrics.Scrape().Value(Failing));

        await File.WriteAllTextAsync(keyPath, second.KeyPem, CancellationToken.None); // a key of another certificate
        await WaitAsync(() => Count(log, EventIds.CertificateReloadFailed) >= 1, "the mismatched pair is logged");
        Assert.Equal(1, metrics.Scrape().Value(Failing));
        Assert.Equal(UnixSeconds(first.Certificate.NotAfter), metrics.Scrape().Value(Expiry));

        second.WriteTo(_directory.FullName);
        await WaitAsync(() => served.Current.Thumbprint == second.Certificate.Thumbprint, "the fixed pair is loaded");
        Assert.Equal(0, metrics.Scrape().Value(Failing));
        Assert.Equal(UnixSeconds(second.Certificate.NotAfter), metrics.Scrape().Value(Expiry));
    }

    [Fact]
    public void Metrics_WithoutServerTls_AreNotExported()
    {
        var scrape = new TestMetrics().Scrape();

        Assert.Empty(scrape.Series(Expiry));
        Assert.Empty(scrape.Series(Failing));
    }

    private const string Expiry = "eventsourced_tls_certificate_expiry_timestamp_seconds";
    private const string Failing = "eventsourced_tls_certificate_reload_failing";

    private static double UnixSeconds(DateTime notAfter) => new DateTimeOffset(notAfter.ToUniversalTime()).ToUnixTimeSeconds();

    /// <summary>A self-signed pair valid in January 2020 only, written over the directory's cert.pem and key.pem.</summary>
    private (string Certificate, string Key) WriteExpired(string commonName)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest($"CN={commonName}", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2020, 2, 1, 0, 0, 0, TimeSpan.Zero));
        var certificatePath = Path.Combine(_directory.FullName, "cert.pem");
        var keyPath = Path.Combine(_directory.FullName, "key.pem");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        return (certificatePath, keyPath);
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

    /// <summary>Log entries with their state's names and values (what the JSON console writes as <c>State</c>).</summary>
    private sealed class StateLog : ILogger
    {
        public List<(LogLevel Level, int EventId, string Message, Dictionary<string, object?> State)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, eventId.Id, formatter(state, exception),
                state is IEnumerable<KeyValuePair<string, object?>> pairs ? pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) : []));
    }
}
