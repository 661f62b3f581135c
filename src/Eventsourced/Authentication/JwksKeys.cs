using System.Net.Http.Headers;
using System.Text.Json;
using Eventsourced.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Authentication;

/// <summary>
/// The public keys of <c>auth.jwt.jwks_url</c>: fetched, used for <c>auth.jwt.jwks_refresh</c> seconds (and while
/// the next fetch runs), fetched again when a token names a key id (<c>kid</c>) the set does not have (the issuer rotated its keys), at most
/// once per <c>auth.jwt.jwks_cooldown</c> seconds however many tokens ask, one fetch at a time. A failed fetch
/// keeps the keys of the last good one. The set is parsed by IdentityModel's <see cref="JsonWebKeySet"/>;
/// written here is only this caching policy: IdentityModel's own <c>ConfigurationManager</c> is made for
/// OpenID discovery documents and refreshes in the background, so the request that met a new <c>kid</c> would be
/// refused although the new key was one fetch away. Besides, the set is fetched every <c>jwks_refresh</c> seconds
/// while no token asks, and each key carries a token (<see cref="VerificationKey.Removed"/>) that is cancelled when a
/// fetch finds the key gone, so that what its tokens opened can end (nothing in IdentityModel tells a key's removal).
/// </summary>
internal sealed class JwksKeys : IDisposable
{
    private const int MaxSetBytes = 1024 * 1024;

    private readonly Uri _url;
    private readonly string _shownUrl;
    private readonly TimeSpan _refresh;
    private readonly TimeSpan _cooldown;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Lock _lock = new();
    private Snapshot _current = new([], null);
    private long? _lastAttempt;
    private Task? _fetching;
    private ITimer? _timer;

    /// <summary>The keys of the last good fetch by <see cref="Identity"/>, each with what cancels its <see cref="VerificationKey.Removed"/>. Only the one running fetch touches it.</summary>
    private readonly Dictionary<string, (VerificationKey Key, CancellationTokenSource Removed)> _held = new(StringComparer.Ordinal);

    public JwksKeys(Uri url, TimeSpan refresh, TimeSpan cooldown, TimeProvider time, ILogger logger)
    {
        _url = url;
        _shownUrl = SecretUrl.Mask(url.OriginalString);
        _refresh = refresh;
        _cooldown = cooldown;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(10),
            MaxResponseContentBufferSize = MaxSetBytes,
        };
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    /// <summary>The keys of the last good fetch (none before the first).</summary>
    public IReadOnlyList<VerificationKey> Keys => Volatile.Read(ref _current).Keys;

    /// <summary>True until a fetch has brought a key set (the URL unreachable, or answering errors, since the start).</summary>
    public bool NeverFetched => Volatile.Read(ref _current).FetchedAt is null;

    /// <summary>
    /// Starts the first fetch, so that the first subscriber need not wait for it, and the fetches every <c>jwks_refresh</c>
    /// seconds after it, so that a key the issuer removes is noticed while no new token asks.
    /// </summary>
    public void Prefetch()
    {
        _ = FetchAsync();
        lock (_lock)
        {
            _timer ??= _time.CreateTimer(static state => _ = ((JwksKeys)state!).FetchAsync(), this, _refresh, _refresh);
        }
    }

    /// <summary>
    /// What ends with the key that verified a token (<paramref name="key"/>): none for a key that is not the set's, an
    /// ended one for a key of the set that has left it since it verified.
    /// </summary>
    public CancellationToken RemovalOf(SecurityKey key, IEnumerable<VerificationKey> configured)
    {
        if (configured.Any(k => ReferenceEquals(k.Key, key)))
        {
            return CancellationToken.None;
        }

        var current = Keys.FirstOrDefault(k => ReferenceEquals(k.Key, key));
        return current?.Removed ?? new CancellationToken(canceled: true);
    }

    /// <summary>
    /// The keys to verify with now: fetched first when none were ever fetched; keys older than <c>jwks_refresh</c> are
    /// fetched again in the background and verify meanwhile, so that a slow or unreachable key set URL (up to the
    /// fetch's 10 s timeout) holds up no subscriber while a set is at hand.
    /// </summary>
    public async ValueTask<IReadOnlyList<VerificationKey>> GetAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _current);
        if (current.FetchedAt is not null)
        {
            RefreshIfOld(current);
            return current.Keys;
        }

        await FetchAsync().WaitAsync(cancellationToken);
        return Keys;
    }

    /// <summary>
    /// Whether the set has a key <paramref name="kid"/>, fetching it again first when it has not (within the cooldown).
    /// A set older than <c>jwks_refresh</c> is fetched again in the background either way, so that a key the issuer
    /// removed (revoked) stops verifying the tokens that name it.
    /// </summary>
    public async ValueTask<bool> HasKeyAsync(string kid, CancellationToken cancellationToken)
    {
        RefreshIfOld(Volatile.Read(ref _current));
        if (Contains(kid))
        {
            return true;
        }

        await FetchAsync().WaitAsync(cancellationToken);
        return Contains(kid);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }

        _http.Dispose();
    }

    /// <summary>Starts a fetch (within the cooldown) when <paramref name="current"/> was fetched longer than <c>jwks_refresh</c> ago.</summary>
    private void RefreshIfOld(Snapshot current)
    {
        if (current.FetchedAt is { } at && _time.GetElapsedTime(at) >= _refresh)
        {
            _ = FetchAsync();
        }
    }

    private bool Contains(string kid) => Keys.Any(k => string.Equals(k.Key.KeyId, kid, StringComparison.Ordinal));

    /// <summary>The running fetch, a new one when the cooldown allows, or a completed task.</summary>
    private Task FetchAsync()
    {
        lock (_lock)
        {
            if (_fetching is { IsCompleted: false } running)
            {
                return running;
            }

            if (_lastAttempt is { } last && _time.GetElapsedTime(last) < _cooldown)
            {
                return Task.CompletedTask;
            }

            _lastAttempt = _time.GetTimestamp();
            return _fetching = Task.Run(FetchCoreAsync);
        }
    }

    private async Task FetchCoreAsync()
    {
        try
        {
            using var response = await _http.GetAsync(_url);
            if (!response.IsSuccessStatusCode)
            {
                AuthLog.JwksFetchFailed(_logger, _shownUrl, $"HTTP {(int)response.StatusCode}");
                return;
            }

            var text = await response.Content.ReadAsStringAsync();
            if (NotAKeySet(text, response.Content.Headers.ContentType?.MediaType) is { } problem)
            {
                // Not a set at all (a login page, a proxy's error page, an error object): the last good keys stay.
                AuthLog.JwksFetchFailed(_logger, _shownUrl, problem);
                return;
            }

            var set = new JsonWebKeySet(text);
            var usable = set.Keys.Select(ToVerificationKey).OfType<VerificationKey>().ToArray();
            if (usable.Length == 0)
            {
                // A set with no key to verify with ({"keys": []}, or only encryption or symmetric keys) is far likelier an
                // identity provider's or a cache's slip than the issuer retiring every key at once; taken, it would end every
                // stream its tokens opened (auth.end_at_expiry). The last good keys stay, as after a failed fetch.
                AuthLog.JwksFetchFailed(_logger, _shownUrl, $"the key set holds no signing key (RSA or EC) to verify with ({set.Keys.Count} keys in it)");
                return;
            }

            var first = NeverFetched;
            var (keys, added, removed) = Reconcile(usable);
            Volatile.Write(ref _current, new Snapshot(keys, _time.GetTimestamp()));
            if (first || added > 0 || removed.Count > 0)
            {
                AuthLog.JwksFetched(_logger, _shownUrl, keys.Length, Kids(keys.Select(k => k.Key)));
            }

            if (removed.Count > 0)
            {
                AuthLog.JwksKeysRemoved(_logger, _shownUrl, Kids(removed.Select(r => r.Key.Key)));

                // After the new set is in place, so that a token verified meanwhile by a removed key finds it gone. The streams'
                // endings run on the thread pool, not in this fetch; the sources are not disposed while they may run.
                foreach (var (_, source) in removed)
                {
                    _ = source.CancelAsync();
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or InvalidOperationException)
        {
            // A failed fetch keeps the last good keys; the next attempt comes after the cooldown.
            AuthLog.JwksFetchFailed(_logger, _shownUrl, ex.GetType().Name + ": " + ex.Message);
        }
    }

    /// <summary>
    /// The fetched keys, each one that was in the last set too (the same <see cref="Identity"/>) as the object it was, so
    /// that what its tokens opened goes on; and those that left the set, whose removal is still to be signalled.
    /// </summary>
    private (VerificationKey[] Keys, int Added, List<(VerificationKey Key, CancellationTokenSource Removed)> Removed) Reconcile(IEnumerable<VerificationKey> fetched)
    {
        var keys = new List<VerificationKey>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var added = 0;
        foreach (var key in fetched)
        {
            var identity = Identity(key);
            if (!seen.Add(identity))
            {
                continue;
            }

            if (_held.TryGetValue(identity, out var held))
            {
                keys.Add(held.Key);
                continue;
            }

            var removal = new CancellationTokenSource();
            var fresh = key with { Removed = removal.Token };
            _held[identity] = (fresh, removal);
            keys.Add(fresh);
            added++;
        }

        var removed = new List<(VerificationKey Key, CancellationTokenSource Removed)>();
        foreach (var identity in _held.Keys.Where(i => !seen.Contains(i)).ToArray())
        {
            removed.Add(_held[identity]);
            _held.Remove(identity);
        }

        return ([.. keys], added, removed);
    }

    /// <summary>
    /// A key of the set as the same key in another fetch: its id, algorithm and public key members (RSA's modulus and
    /// exponent, EC's curve and point: those of RFC 7638's thumbprint, which would throw for a key that lacks one).
    /// </summary>
    private static string Identity(VerificationKey key)
    {
        var jwk = (JsonWebKey)key.Key;
        return string.Join('\n', jwk.Kid, key.Algorithm, jwk.Kty, jwk.N, jwk.E, jwk.Crv, jwk.X, jwk.Y);
    }

    private static string Kids(IEnumerable<SecurityKey> keys) => string.Join(", ", keys.Select(k => k.KeyId ?? "(no kid)"));

    /// <summary>
    /// Why <paramref name="text"/> is no JSON Web Key Set (RFC 7517: a JSON object with a <c>keys</c> array), or null
    /// when it is one. IdentityModel's own message for a page that is not JSON hides what came back ("[PII of type
    /// 'System.String' is hidden]"), and it takes an object without <c>keys</c> for a set with no keys, which would drop
    /// every key in use. The text itself is not shown: only its media type and length.
    /// </summary>
    internal static string? NotAKeySet(string text, string? mediaType)
    {
        var shown = $"Content-Type {mediaType ?? "none"}, {text.Length} characters";
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("keys", out var keys)
                && keys.ValueKind == JsonValueKind.Array
                ? null
                : $"the answer is JSON but no JSON Web Key Set: no \"keys\" array ({shown})";
        }
        catch (JsonException)
        {
            return $"the answer is not JSON ({shown}): is the URL the identity provider's jwks_uri?";
        }
    }

    /// <summary>
    /// A signing key of the set and its one algorithm (its <c>alg</c>, else RS256 for RSA and ES256/384/512 by
    /// the curve for EC); symmetric keys and encryption keys are not taken from a URL.
    /// </summary>
    private static VerificationKey? ToVerificationKey(JsonWebKey key)
    {
        if (key.Use is { Length: > 0 } use && use != "sig")
        {
            return null;
        }

        var algorithm = key.Kty switch
        {
            JsonWebAlgorithmsKeyTypes.RSA => key.Alg is { Length: > 0 } rsaAlg ? rsaAlg : SecurityAlgorithms.RsaSha256,
            JsonWebAlgorithmsKeyTypes.EllipticCurve => key.Crv switch
            {
                JsonWebKeyECTypes.P256 => SecurityAlgorithms.EcdsaSha256,
                JsonWebKeyECTypes.P384 => SecurityAlgorithms.EcdsaSha384,
                JsonWebKeyECTypes.P521 => SecurityAlgorithms.EcdsaSha512,
                _ => null,
            },
            _ => null,
        };
        if (algorithm is null || (key.Kty == JsonWebAlgorithmsKeyTypes.EllipticCurve && key.Alg is { Length: > 0 } ecAlg && ecAlg != algorithm))
        {
            return null;
        }

        return algorithm is SecurityAlgorithms.RsaSha256 or SecurityAlgorithms.RsaSha384 or SecurityAlgorithms.RsaSha512
            or SecurityAlgorithms.RsaSsaPssSha256 or SecurityAlgorithms.RsaSsaPssSha384 or SecurityAlgorithms.RsaSsaPssSha512
            or SecurityAlgorithms.EcdsaSha256 or SecurityAlgorithms.EcdsaSha384 or SecurityAlgorithms.EcdsaSha512
            ? new VerificationKey(key, algorithm, $"JWKS key {key.Kid}")
            : null;
    }

    private sealed record Snapshot(IReadOnlyList<VerificationKey> Keys, long? FetchedAt);
}
