using System.Runtime.CompilerServices;
using System.Security.Claims;
using Eventsourced.Configuration;
using Eventsourced.Naming;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Authentication;

/// <summary>
/// Verifies a subscriber's token (<c>auth</c>): finds it in the request (<c>Authorization: Bearer</c>, the
/// <c>access_token</c> query parameter, a cookie; each switchable), and has IdentityModel's
/// <see cref="JsonWebTokenHandler"/> check its signature against the configured keys (each for its one
/// algorithm), its <c>exp</c> and <c>nbf</c> with the allowed clock skew, and its <c>iss</c> and <c>aud</c> when
/// configured. Without keys every request passes with its own anonymous principal (the original's unauthenticated mode).
/// With <c>auth.application_user</c> (an application embedding the gateway), the user the application signed in is the
/// subscriber, and a request without one is refused.
/// The token never reaches a log line or an answer; refusals name the reason only.
/// </summary>
internal sealed class SubscriberAuthenticator : IDisposable
{
    /// <summary>The query parameter a token may come in (RFC 6750 section 2.3).</summary>
    public const string QueryParameter = "access_token";

    /// <summary>The authentication type of the principals verified tokens make: a request's user of another type was signed in by the embedding application.</summary>
    public const string TokenAuthenticationType = "eventsourced-token";

    /// <summary>
    /// Whose claims <paramref name="user"/> has, as refusals name it: a verified token's (<c>token</c>; also a request without
    /// one), or the user the embedding application signed in (<c>signed-in user</c>, <c>auth.application_user</c>), where no
    /// token is read and a refusal naming one sent the application's developers looking for a token they never issued.
    /// </summary>
    public static string HolderOf(ClaimsPrincipal user) => IsTokens(user) ? "token" : "signed-in user";

    /// <summary>One of <paramref name="user"/>'s claims as refusals name it: <c>token claim</c>, or <c>signed-in user's claim</c> (see <see cref="HolderOf"/>).</summary>
    public static string ClaimOf(ClaimsPrincipal user) => IsTokens(user) ? "token claim" : "signed-in user's claim";

    private static bool IsTokens(ClaimsPrincipal user) => user.Identity?.AuthenticationType is TokenAuthenticationType or null;

    /// <summary>The JWS header naming extensions a recipient must understand (RFC 7515 section 4.1.11).</summary>
    private const string CriticalHeader = "crit";

    /// <summary>Why a token whose header names no algorithm (<c>alg</c>) is refused.</summary>
    internal const string NoAlgorithm = "malformed token: its header has no alg";

    internal const string KeysUnavailableReason = "signing keys unavailable: auth.jwt.jwks_url's key set could not be fetched yet";

    internal const string PayloadNotOneObject = "malformed token: its payload is not one JSON object";

    /// <summary>Whether the base64url <paramref name="encodedPayload"/> is one JSON object, with nothing but white space after it.</summary>
    private static bool IsOneJsonObject(string encodedPayload)
    {
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(Base64UrlEncoder.DecodeBytes(encodedPayload));
            if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartObject)
            {
                return false;
            }

            reader.Skip();
            return !reader.Read();
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or FormatException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Larger tokens are refused unread (IdentityModel's own limit is 250 KB).</summary>
    private const int MaxTokenBytes = 16 * 1024;

    private readonly AuthOptions _options;
    private readonly IReadOnlyList<VerificationKey> _staticKeys;
    private readonly JwksKeys? _jwks;
    private readonly JsonWebTokenHandler _handler = new() { MaximumTokenSizeInBytes = MaxTokenBytes };
    private readonly TokenValidationParameters _parameters;
    private readonly TimeSpan _clockSkew;

    /// <summary>The claims that list what a token may read or publish (<c>auth.read_claims</c>, <c>auth.publish_claim</c>).</summary>
    private readonly string[] _listClaims;

    /// <summary>Each key's one algorithm, by key object; weak, so that keys of replaced JWKS sets go.</summary>
    private readonly ConditionalWeakTable<SecurityKey, string> _algorithms = new();

    public SubscriberAuthenticator(IOptions<AuthOptions> options, TimeProvider time, ILogger<SubscriberAuthenticator> logger)
    {
        _options = options.Value;
        var jwt = _options.Jwt;
        Enabled = _options.IdentifiesSubscribers;
        _staticKeys = SigningKeys.Load(jwt);
        foreach (var key in _staticKeys)
        {
            _algorithms.AddOrUpdate(key.Key, key.Algorithm);
        }

        if (jwt.JwksUrl.Length > 0)
        {
            _jwks = new JwksKeys(new Uri(jwt.JwksUrl), TimeSpan.FromSeconds(jwt.JwksRefreshSeconds), TimeSpan.FromSeconds(jwt.JwksCooldownSeconds), time, logger);
        }

        _clockSkew = TimeSpan.FromSeconds(jwt.ClockSkewSeconds);
        _listClaims = [.. _options.ReadClaims.Values.Append(_options.PublishClaim).Where(c => c.Length > 0).Distinct(StringComparer.Ordinal)];
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKeyResolver = (_, _, kid, _) => Resolve(kid),
            AlgorithmValidator = (algorithm, key, _, _) => _algorithms.TryGetValue(key, out var allowed) && allowed == algorithm,
            AuthenticationType = TokenAuthenticationType,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = false,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            ClockSkew = _clockSkew,
            ValidateIssuer = jwt.Issuers.Count > 0,
            ValidIssuers = jwt.Issuers,
            ValidateAudience = jwt.Audiences.Count > 0,
            ValidAudiences = jwt.Audiences,
            // RFC 7519 section 2: an aud compares as written, with no canonicalization. IdentityModel drops a trailing '/'
            // from both sides by default (of aud only, not of iss): a token for "push/", another service's, passed for "push".
            IgnoreTrailingSlashWhenValidatingAudience = false,
        };

        if (_options.ApplicationUser)
        {
            // No key may be configured with it (AuthConfigCheck), and no token is looked for: event 500 would name none.
            AuthLog.ApplicationUser(logger);
        }
        else if (Enabled)
        {
            var keys = _staticKeys.Select(k => $"{k.Source} ({k.Algorithm})").Concat(_jwks is null ? [] : [$"JWKS {SecretUrl.Mask(jwt.JwksUrl)}"]);
            AuthLog.Keys(logger, string.Join(", ", keys), string.Join(", ", Sources()));
            _jwks?.Prefetch();
        }
    }

    /// <summary>Whether every subscriber must be someone: a token (a key is configured) or the application's signed-in user.</summary>
    public bool Enabled { get; }

    /// <summary><c>auth.end_at_expiry</c>: a subscription ends when its token expires (an application's sign-in has no token to expire).</summary>
    public bool EndsAtExpiry => _options.Jwt.HasKeys && _options.EndAtExpiry;

    /// <summary>Who <paramref name="context"/>'s request is, or why it is refused.</summary>
    public async ValueTask<AuthenticationResult> AuthenticateAsync(HttpContext context)
    {
        if (!Enabled)
        {
            // The request's own (anonymous) principal: nothing shared between requests.
            return AuthenticationResult.Success(context.User ?? new ClaimsPrincipal(new ClaimsIdentity()), null);
        }

        if (_options.ApplicationUser)
        {
            // The embedding application's authentication middleware signed the user in (or not) before the endpoint ran.
            return context.User.Identity?.IsAuthenticated == true
                ? AuthenticationResult.Success(context.User, null)
                : AuthenticationResult.NotSignedIn("not signed in");
        }

        return FindToken(context.Request, out var token) is { } problem ? problem : await ValidateAsync(token, context.RequestAborted);
    }

    public void Dispose() => _jwks?.Dispose();

    /// <summary>Null and the request's one token, or why there is none (none, several, unreadable).</summary>
    private AuthenticationResult? FindToken(HttpRequest request, out string found)
    {
        found = string.Empty;
        string? token = null;
        var count = 0;
        var bearers = 0;
        if (_options.FromHeader)
        {
            foreach (var value in request.Headers.Authorization)
            {
                // Another scheme (Basic, ...) is not a subscriber token: a proxy in front may use it.
                if (value is { Length: > 7 } && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                {
                    token = value[7..].Trim();
                    count++;
                    bearers++;
                }
            }
        }

        var countBeforeQuery = count;

        if (_options.FromQuery && Take(RequestValues.Query(request, QueryParameter, out var fromQuery), fromQuery, "access_token parameter", ref token, ref count) is { } queryProblem)
        {
            return queryProblem;
        }

        var inQuery = count > countBeforeQuery;
        var countBeforeCookie = count;

        if (_options.FromCookie.Length > 0 && Take(RequestValues.Cookie(request, _options.FromCookie, out var fromCookie), fromCookie, $"cookie '{_options.FromCookie}'", ref token, ref count) is { } cookieProblem)
        {
            return cookieProblem;
        }

        if (count > 1)
        {
            // Where this request has them, not every source the configuration reads.
            var given = new List<string>(3);
            if (bearers > 0)
            {
                given.Add(bearers == 1 ? "Authorization: Bearer" : $"{bearers} x Authorization: Bearer");
            }

            if (inQuery)
            {
                given.Add(QueryParameter);
            }

            if (count > countBeforeCookie)
            {
                given.Add($"cookie {_options.FromCookie}");
            }

            return AuthenticationResult.InvalidRequest($"several tokens in one request ({string.Join(", ", given)}): send one");
        }

        if (count == 0 || string.IsNullOrEmpty(token))
        {
            return AuthenticationResult.InvalidToken($"no token (send it as {string.Join(" or ", Sources())})");
        }

        found = token;
        return null;
    }

    private static AuthenticationResult? Take(RequestValueStatus status, string value, string what, ref string? token, ref int count)
    {
        switch (status)
        {
            case RequestValueStatus.Found:
                token = value;
                count++;
                return null;
            case RequestValueStatus.Repeated:
                return AuthenticationResult.InvalidRequest($"{what} given more than once");
            case RequestValueStatus.BadEncoding:
                return AuthenticationResult.InvalidToken($"malformed token in the {what}");
            default:
                return null;
        }
    }

    private async ValueTask<AuthenticationResult> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (token.Length > MaxTokenBytes)
        {
            return AuthenticationResult.InvalidToken("token too large");
        }

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenMalformedException or FormatException)
        {
            // FormatException: a part IdentityModel decodes as it parses (an encrypted token's key) that is no base64url;
            // not caught, it went out of the request as a 500, for anyone who sent one.
            return AuthenticationResult.InvalidToken("malformed token");
        }

        if (jwt.IsEncrypted)
        {
            return AuthenticationResult.InvalidToken("encrypted tokens are not accepted");
        }

        // RFC 7519 section 7.2: the payload is one complete JSON object. IdentityModel reads the first object and ignores
        // what follows it, and a parser elsewhere (the issuer's, an audit's) may read a second object after it.
        if (!IsOneJsonObject(jwt.EncodedPayload))
        {
            return AuthenticationResult.InvalidToken(PayloadNotOneObject);
        }

        if (jwt.EncodedSignature.Length == 0 || string.Equals(jwt.Alg, "none", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticationResult.InvalidToken("token is not signed");
        }

        // RFC 7515 section 4.1.1: the header must name its algorithm. Without one no key verifies the token, and the refusal
        // said "token signature invalid", which sent an issuer's developers after the key instead of the header.
        if (jwt.Alg.Length == 0)
        {
            return AuthenticationResult.InvalidToken(NoAlgorithm);
        }

        // RFC 7515 section 4.1.11: a recipient must refuse a token whose "crit" header names an extension it does not
        // understand, and the gateway understands none (IdentityModel ignores the header: it would verify a token whose
        // "crit": ["b64"] says its signature covers the unencoded payload as if it were an ordinary one).
        if (jwt.TryGetHeaderValue<object>(CriticalHeader, out _))
        {
            return AuthenticationResult.InvalidToken("token has critical header extensions (crit), none of which is supported");
        }

        // The key set holds RSA and EC keys only: an HMAC token is verified by the configured secrets alone, and never
        // waits for a fetch of the set.
        if (_jwks is not null && !jwt.Alg.StartsWith("HS", StringComparison.Ordinal))
        {
            // A kid the set lacks may be a key the issuer has just rotated in: fetch the set again (within the cooldown) before judging.
            if (jwt.TryGetHeaderValue<string>(JwtHeaderParameterNames.Kid, out var kid) && kid.Length > 0 && !_staticKeys.Any(k => k.Key.KeyId == kid))
            {
                await _jwks.HasKeyAsync(kid, cancellationToken);
            }
            else
            {
                await _jwks.GetAsync(cancellationToken);
            }
        }

        var result = await _handler.ValidateTokenAsync(jwt, _parameters);
        if (!result.IsValid)
        {
            // No key set fetched yet (the identity provider down since the start): no RSA or EC token can verify, whoever
            // sends it. That is the gateway's state, not the token's fault: a 503 to try again, not a 401 that has pages
            // renew good tokens and points the operator at keys and clocks.
            if (_jwks is { NeverFetched: true } && !jwt.Alg.StartsWith("HS", StringComparison.Ordinal)
                && result.Exception is SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException)
            {
                return AuthenticationResult.KeysUnavailable(KeysUnavailableReason);
            }

            return AuthenticationResult.InvalidToken(Describe(result.Exception));
        }

        // IdentityModel reads a top-level string claim when it parses the token, but the elements of an array claim only
        // when the claims are first asked for: an unpaired surrogate escape there ("queues": ["\ud800"], which a
        // serializer writes for a user's text cut in the middle of an emoji) threw out of the request, a 500.
        ClaimsIdentity identity;
        try
        {
            identity = result.ClaimsIdentity;
        }
        catch (InvalidOperationException)
        {
            return AuthenticationResult.InvalidToken("malformed token");
        }

        var numbers = PayloadNumbers.Read(jwt);
        if (numbers.TimeNotANumber is { } notANumber)
        {
            return AuthenticationResult.InvalidToken($"token's {notANumber} is not a number (a NumericDate, RFC 7519)");
        }

        // An exp near the end of time (year 9999, or an issuer's exp in milliseconds, which IdentityModel reads as
        // DateTime.MaxValue) leaves no room for the clock skew: such a token expires never, not with an exception.
        var expires = jwt.ValidTo == DateTime.MinValue ? (DateTimeOffset?)null
            : jwt.ValidTo > DateTime.MaxValue - _clockSkew ? DateTimeOffset.MaxValue
            : new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) + _clockSkew;
        // A key of the set carries its removal (what the token opens can end with it); a configured key has none.
        var keyRemoved = _jwks is not null && result.SecurityToken is JsonWebToken { SigningKey: { } signingKey }
            ? _jwks.RemovalOf(signingKey, _staticKeys)
            : CancellationToken.None;
        return AuthenticationResult.Success(new ClaimsPrincipal(WithExactNumbers(numbers.Inexact, WithEmptyLists(jwt, identity))), expires, keyRemoved);
    }

    /// <summary>
    /// <paramref name="identity"/>, with an empty claim for each list claim the token carries without a value
    /// (<c>"queues": []</c>): IdentityModel makes no claim of an empty array, and a token without a <c>queues</c> claim
    /// reads the queue <c>queue.pattern</c> names from its own claims, so a token issued to read no queue read that
    /// one. An empty value lists nothing: the token is held to its empty list.
    /// </summary>
    private ClaimsIdentity WithEmptyLists(JsonWebToken jwt, ClaimsIdentity identity)
    {
        foreach (var name in _listClaims)
        {
            if (!identity.HasClaim(c => c.Type == name) && jwt.TryGetPayloadValue<object>(name, out _))
            {
                identity.AddClaim(new Claim(name, string.Empty));
            }
        }

        return identity;
    }

    /// <summary>
    /// <paramref name="identity"/>, each claim of a number that is no 64-bit integer (<c>"sub":
    /// 123456789012345678901234567890</c>, <c>1.5e3</c>, <c>1e400</c>) with the number as the token wrote it: IdentityModel
    /// gives such a claim the text of the nearest double (<c>1.2345678901234568E+29</c>, <c>1500</c>, <c>Infinity</c>),
    /// so that tokens with different numbers named the same queue, routing key or sender.
    /// </summary>
    private static ClaimsIdentity WithExactNumbers(Dictionary<string, string?[]> written, ClaimsIdentity identity)
    {
        foreach (var (name, texts) in written)
        {
            // One claim per value: the member's, or each of its array's, in the token's order. Claims that cannot be
            // matched up so are dropped rather than kept with rounded numbers.
            var claims = identity.FindAll(c => c.Type == name).ToArray();
            for (var i = 0; i < claims.Length; i++)
            {
                var exact = claims.Length == texts.Length ? texts[i] : null;
                if (claims.Length != texts.Length || exact is not null)
                {
                    identity.RemoveClaim(claims[i]);
                }

                if (exact is not null)
                {
                    identity.AddClaim(new Claim(name, exact, claims[i].ValueType, claims[i].Issuer, claims[i].OriginalIssuer));
                }
            }
        }

        return identity;
    }

    /// <summary>
    /// What the gateway reads from a verified token's payload itself, in one pass over its JSON (IdentityModel's claims
    /// lose both):
    /// <list type="bullet">
    /// <item><see cref="TimeNotANumber"/>: the first of <c>exp</c>, <c>nbf</c> and <c>iat</c> that the payload gives as
    /// anything but a JSON number (each time it gives it), or null. RFC 7519 section 2 makes a NumericDate a number, but
    /// IdentityModel reads a numeric string (<c>"exp": "1733000000"</c>) as that time and then reports the claim as an
    /// <c>integer64</c> (<see cref="ClaimValueTypes.Integer64"/>) like a real number, so neither its validation nor the
    /// claims' value types tell the two apart. Arrays, objects and booleans in <c>exp</c> and <c>nbf</c> IdentityModel
    /// refuses itself (a malformed token).</item>
    /// <item><see cref="Inexact"/>: the top-level members with a number that is no 64-bit integer, its text as written; of
    /// an array, each element's (null for the other elements). A member given twice counts as the last, as IdentityModel
    /// reads it.</item>
    /// </list>
    /// </summary>
    private sealed record PayloadNumbers(string? TimeNotANumber, Dictionary<string, string?[]> Inexact)
    {
        public static PayloadNumbers Read(JsonWebToken jwt)
        {
            string? timeNotANumber = null;
            var inexact = new Dictionary<string, string?[]>(StringComparer.Ordinal);
            try
            {
                var reader = new System.Text.Json.Utf8JsonReader(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
                reader.Read(); // the object: IdentityModel has parsed the payload already
                while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    inexact.Remove(name);
                    reader.Read();
                    if (timeNotANumber is null && name is JwtRegisteredClaimNames.Exp or JwtRegisteredClaimNames.Nbf or JwtRegisteredClaimNames.Iat
                        && reader.TokenType != System.Text.Json.JsonTokenType.Number)
                    {
                        timeNotANumber = name;
                    }

                    if (reader.TokenType == System.Text.Json.JsonTokenType.StartArray)
                    {
                        var elements = new List<string?>();
                        while (reader.Read() && reader.TokenType != System.Text.Json.JsonTokenType.EndArray)
                        {
                            elements.Add(InexactText(ref reader));
                            reader.Skip();
                        }

                        if (elements.Any(e => e is not null))
                        {
                            inexact[name] = [.. elements];
                        }
                    }
                    else if (InexactText(ref reader) is { } text)
                    {
                        inexact[name] = [text];
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            catch (System.Text.Json.JsonException)
            {
                return new PayloadNumbers(null, []); // IdentityModel has read it: not expected
            }

            return new PayloadNumbers(timeNotANumber, inexact);
        }

        private static string? InexactText(ref System.Text.Json.Utf8JsonReader reader) =>
            reader.TokenType == System.Text.Json.JsonTokenType.Number && !reader.TryGetInt64(out _)
                ? System.Text.Encoding.UTF8.GetString(reader.ValueSpan)
                : null;
    }

    /// <summary>Every key whose id is <paramref name="kid"/>; all keys when none has it (keys of secrets and PEM files have no id).</summary>
    private IEnumerable<SecurityKey> Resolve(string? kid)
    {
        IEnumerable<VerificationKey> keys = _jwks is null ? _staticKeys : _staticKeys.Concat(_jwks.Keys);
        foreach (var key in _jwks?.Keys ?? [])
        {
            _algorithms.AddOrUpdate(key.Key, key.Algorithm);
        }

        var all = keys.Select(k => k.Key).ToArray();
        var matching = string.IsNullOrEmpty(kid) ? [] : all.Where(k => k.KeyId == kid).ToArray();
        return matching.Length > 0 ? matching : all;
    }

    /// <summary>Why IdentityModel refused a token, in words for the client; never the token or the key.</summary>
    private static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "token expired",
        SecurityTokenNotYetValidException => "token not yet valid (nbf)",
        SecurityTokenNoExpirationException => "token has no expiry (exp)",
        SecurityTokenInvalidLifetimeException => "token lifetime invalid",
        SecurityTokenInvalidIssuerException => "token issuer not accepted",
        SecurityTokenInvalidAudienceException => "token audience not accepted",
        SecurityTokenInvalidAlgorithmException => "token algorithm not accepted for its key",
        // Whether a key id matched or not: no configured key (for the token's algorithm) verifies the signature.
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "token signature invalid",
        SecurityTokenMalformedException => "malformed token",
        _ => "invalid token",
    };

    private IEnumerable<string> Sources()
    {
        if (_options.FromHeader)
        {
            yield return "Authorization: Bearer";
        }

        if (_options.FromQuery)
        {
            yield return QueryParameter;
        }

        if (_options.FromCookie.Length > 0)
        {
            yield return $"cookie {_options.FromCookie}";
        }
    }
}
