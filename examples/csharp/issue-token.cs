#!/usr/bin/env -S dotnet run
// Issue a subscriber token for the gateway with Microsoft's IdentityModel: a .NET 10 file-based app, and
// what your application's server does when it serves the page (the user is logged in there).
//
//   EVENTSOURCED_AUTH__JWT__SECRET=... dotnet run issue-token.cs -- SUB [MINUTES] [QUEUE...]
//
// The secret is the gateway's auth.jwt.secret (HS256, 32 bytes or more). The token says who the user is
// (sub) and until when (exp): with queue.pattern user-${claim:sub} the gateway streams the queue
// user-SUB to it and no other. Listing QUEUEs adds the "queues" claim (names or patterns with *) for a
// pattern such as ${query:id}. Keep tokens short-lived: minutes; the page fetches a new one when a
// stream ends with ": token expired" (examples/browser/index.html does). The part to copy is IssueToken.
#:package Microsoft.IdentityModel.JsonWebTokens@8.23.0
#:property PublishAot=false

using System.Globalization;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

var secret = Environment.GetEnvironmentVariable("EVENTSOURCED_AUTH__JWT__SECRET");
if (args.Length < 1 || string.IsNullOrEmpty(secret))
{
    Console.Error.WriteLine("usage: EVENTSOURCED_AUTH__JWT__SECRET=... dotnet run issue-token.cs -- SUB [MINUTES] [QUEUE...]");
    return 64;
}

var minutes = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
Console.WriteLine(SubscriberTokens.IssueToken(secret, sub: args[0], TimeSpan.FromMinutes(minutes), queues: args.Skip(2).ToArray()));
return 0;

internal static class SubscriberTokens
{
    /// <summary>A token for <paramref name="sub"/>, valid for <paramref name="lifetime"/>, that may read <paramref name="queues"/> (none: the queue its sub names).</summary>
    public static string IssueToken(string secret, string sub, TimeSpan lifetime, string[] queues)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (queues.Length > 0)
        {
            claims["queues"] = queues;
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            IssuedAt = DateTime.UtcNow,
            Expires = DateTime.UtcNow + lifetime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256),
        });
    }
}
