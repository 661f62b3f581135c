using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.Metrics;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Hosting;

/// <summary>
/// The certificate of <c>server.tls</c>, reloaded when its files change (a renewal, a Kubernetes secret swapped by
/// symlink): a file watcher on their directories notices at once, and a check every
/// <see cref="PollInterval"/> catches what a watcher misses (network file systems). Each new TLS handshake takes
/// the current certificate; open connections keep theirs. A half-written or broken pair keeps the old certificate
/// and is logged once; the next change of the files tries again, and a pair that loads after one that failed is logged
/// (event 108) even when it is the one in use, put back. So does an expired certificate in place of a valid
/// one; a certificate in use outside its validity (at start, or replacing an expired one) is logged as such. Changes of
/// other files in their directories (a log written there, another service's files) do not try the same broken pair
/// again, nor log it again.
/// </summary>
internal sealed class ServerCertificate : IDisposable
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// A pair that does not load while one of its files was written less than this ago is tried again then before it is
    /// logged: a renewal that copies the certificate and then the key (two steps, a second apart) is half done, not broken.
    /// </summary>
    public static readonly TimeSpan Unfinished = TimeSpan.FromSeconds(5);

    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly ILogger _logger;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly ITimer _poll;
    private readonly ITimer _settle;
    private readonly Lock _reloading = new();
    private readonly TimeProvider _time;
    private readonly GatewayMetrics? _metrics;
    private X509Certificate2 _current;
    private (DateTime, long, DateTime, long) _stamp;

    /// <summary>The files as they were when they last failed to load; null after a load that worked.</summary>
    private (DateTime, long, DateTime, long)? _failed;

    /// <param name="metrics">Where the certificate's expiry and a failing reload are shown (<c>eventsourced_tls_*</c>); none in tests that need no series.</param>
    public ServerCertificate(string certificatePath, string keyPath, TimeProvider time, ILogger logger, GatewayMetrics? metrics = null)
    {
        _certificatePath = Path.GetFullPath(certificatePath);
        _keyPath = Path.GetFullPath(keyPath);
        _logger = logger;
        _time = time;
        _metrics = metrics;
        _current = TlsFiles.Load(_certificatePath, _keyPath);
        _stamp = Stamp();
        metrics?.TlsReloadFailing(false);
        Serving(_current);
        _settle = time.CreateTimer(_ => Reload(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _poll = time.CreateTimer(_ => ReloadIfChanged(), null, PollInterval, PollInterval);
        foreach (var directory in new[] { Path.GetDirectoryName(_certificatePath)!, Path.GetDirectoryName(_keyPath)! }.Distinct(StringComparer.Ordinal))
        {
            var watcher = new FileSystemWatcher(directory)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.CreationTime | NotifyFilters.Size | NotifyFilters.DirectoryName,
                IncludeSubdirectories = false,
            };
            watcher.Changed += (_, _) => Changed();
            watcher.Created += (_, _) => Changed();
            watcher.Renamed += (_, _) => Changed();
            watcher.Deleted += (_, _) => Changed();
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    /// <summary>The certificate new handshakes present.</summary>
    public X509Certificate2 Current => Volatile.Read(ref _current);

    public void Dispose()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _poll.Dispose();
        _settle.Dispose();
    }

    /// <summary>A change in a watched directory: reload once writing has settled (files are often written in several steps).</summary>
    private void Changed() => _settle.Change(Settle, Timeout.InfiniteTimeSpan);

    private void ReloadIfChanged()
    {
        if (Stamp() != _stamp)
        {
            Reload();
        }
    }

    private void Reload()
    {
        lock (_reloading)
        {
            var stamp = Stamp();
            if (stamp == _failed)
            {
                // The pair that failed is unchanged (another file of the directory changed): it fails again, and was logged.
                return;
            }

            X509Certificate2 loaded;
            try
            {
                loaded = TlsFiles.Load(_certificatePath, _keyPath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                var written = stamp.Item1 > stamp.Item3 ? stamp.Item1 : stamp.Item3;
                var since = DateTime.UtcNow - written;
                if (since >= TimeSpan.Zero && since < Unfinished)
                {
                    // Perhaps the other file is on its way: look again once the files have been left alone for a while.
                    _settle.Change(Unfinished - since + Settle, Timeout.InfiniteTimeSpan);
                    return;
                }

                Failed(stamp, ex.Message);
                return;
            }

            var now = _time.GetUtcNow();
            if (TlsFiles.Validity(loaded, now) is { } expired && loaded.NotAfter.ToUniversalTime() < now.UtcDateTime && TlsFiles.Validity(Current, now) is null)
            {
                // An expired certificate (an old backup restored, a renewal that copied the wrong file) in place of one that is
                // valid: every new client would refuse the gateway. The valid one stays until the files change again.
                loaded.Dispose();
                Failed(stamp, $"the new certificate {expired}");
                return;
            }

            var wasFailing = _failed is not null;
            _failed = null;
            _stamp = stamp;
            _metrics?.TlsReloadFailing(false);
            if (loaded.Thumbprint == Current.Thumbprint)
            {
                loaded.Dispose();
                if (wasFailing)
                {
                    // The pair in use put back after a broken one (logged as failing): the files load again, and the log
                    // that last said "cannot be loaded" says so, else it reads as failing still.
                    Serving(Current);
                }

                return;
            }

            // The old certificate is not disposed: handshakes in progress may still use it.
            Volatile.Write(ref _current, loaded);
            Serving(loaded);
        }
    }

    /// <summary>The files as they are (<paramref name="stamp"/>) do not load: said once, and shown until a pair loads.</summary>
    private void Failed((DateTime, long, DateTime, long) stamp, string reason)
    {
        _failed = stamp;
        _metrics?.TlsReloadFailing(true);
        HostingLog.CertificateReloadFailed(_logger, _certificatePath, _keyPath, reason);
    }

    /// <summary><paramref name="certificate"/> is now served to new connections: its expiry shown and logged, a warning if it is not valid now.</summary>
    private void Serving(X509Certificate2 certificate)
    {
        _metrics?.TlsCertificateInUse(certificate.NotAfter);
        HostingLog.CertificateLoaded(_logger, certificate.Subject, certificate.Thumbprint, certificate.NotAfter);
        WarnUnlessValid(certificate);
    }

    /// <summary>A certificate in use that has expired, or is not valid yet, is served (there is none better) but logged.</summary>
    private void WarnUnlessValid(X509Certificate2 certificate)
    {
        if (TlsFiles.Validity(certificate, _time.GetUtcNow()) is { } validity)
        {
            HostingLog.CertificateNotValidNow(_logger, certificate.Subject, certificate.Thumbprint, validity);
        }
    }

    private (DateTime, long, DateTime, long) Stamp()
    {
        var certificate = Followed(_certificatePath);
        var key = Followed(_keyPath);
        return (
            certificate.Exists ? certificate.LastWriteTimeUtc : default, certificate.Exists ? certificate.Length : -1,
            key.Exists ? key.LastWriteTimeUtc : default, key.Exists ? key.Length : -1);
    }

    /// <summary>
    /// The file a path names, through symbolic links: <see cref="FileInfo"/> describes a link itself (its time and the
    /// length of its text), and a Kubernetes secret's <c>tls.crt</c> is a link (to <c>..data/tls.crt</c>) that never
    /// changes while the secret does.
    /// </summary>
    private static FileInfo Followed(string path)
    {
        var file = new FileInfo(path);
        try
        {
            return file.LinkTarget is null ? file : file.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? file;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A loop of links, a directory on the way that may not be read, or a link that changed while it was followed: the
            // link itself, until the next look.
            return file;
        }
    }
}
