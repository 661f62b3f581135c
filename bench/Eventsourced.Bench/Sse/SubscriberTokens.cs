using System.Collections.Concurrent;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.Bench.Sse;

/// <summary>
/// One HS256 token per queue, as an application would issue one per page: <c>sub</c> and <c>queues</c> are the
/// queue, valid for a day. Made ahead (<see cref="Prepare"/>) so that signing is not part of what is timed.
/// </summary>
internal sealed class SubscriberTokens(string secret)
{
    private readonly JsonWebTokenHandler _handler = new();
    private readonly SigningCredentials _credentials = new(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256);
    private readonly ConcurrentDictionary<string, string> _tokens = new(StringComparer.Ordinal);

    public void Prepare(IEnumerable<string> queues)
    {
        foreach (var queue in queues)
        {
            _ = For(queue);
        }
    }

    public string For(string queue) => _tokens.GetOrAdd(queue, q => _handler.CreateToken(new SecurityTokenDescriptor
    {
        Claims = new Dictionary<string, object> { ["sub"] = q, ["queues"] = new[] { q } },
        Expires = DateTime.UtcNow.AddDays(1),
        SigningCredentials = _credentials,
    }));
}
