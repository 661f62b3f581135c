using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Authentication;

/// <summary>
/// A key that verifies token signatures, and the one algorithm it verifies: a token signed with another
/// algorithm (HS512 with an HS256 secret, HS256 with an RSA key's bytes) is refused whatever its signature.
/// <paramref name="Source"/> names where the key came from, for logs (never the key itself). <paramref name="Removed"/> is
/// cancelled when the key leaves its set (a JWKS key the issuer removed); a configured key is never removed.
/// </summary>
internal sealed record VerificationKey(SecurityKey Key, string Algorithm, string Source, CancellationToken Removed = default);
