using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Authentication;

/// <summary>
/// A key that verifies token signatures, and the one algorithm it verifies: a token signed with another
/// algorithm (HS512 with an HS256 secret, HS256 with an RSA key's bytes) is refused whatever its signature.
/// <paramref name="Source"/> names where the key came from, for logs (never the key itself).
/// </summary>
internal sealed record VerificationKey(SecurityKey Key, string Algorithm, string Source);
