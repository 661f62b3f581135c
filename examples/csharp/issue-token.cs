#!/usr/bin/env -S dotnet run
// Issue a subscriber token for the gateway with Microsoft's IdentityModel: a .NET 10 file-based app, and
// what your application's server does when it serves the page (the user is logged in there).
//
//   EVENTSOURCED_AUTH__JWT__SECRET=... dotnet run issue-token.cs -- SUB [MINUTES] [QUEUE...]
//       [--topics PATTERN]... [--publish PATTERN]...
//
// The secret is the gateway's auth.jwt.secret (HS256, 32 bytes or more). The token says who the user is
// (sub) and until when (exp): with queue.pattern user-${claim:sub} the gateway streams the queue
// user-SUB to it and no other. Listing QUEUEs adds the "queues" claim (names or patterns with *) for a
// pattern such as ${query:id}. --topics adds the "topics" claim (the topics the token may read; with
// tokens, any other topic is a 403), --publish the "publish" claim (where its WebSocket may publish:
// auth.publish_claim). Each may be given several times. The chat example's user, say:
//   dotnet run issue-token.cs -- alice 60 --topics 'chat.room.*' --publish 'room.*' --publish 'user.*'
// Keep tokens short-lived: minutes; the page fetches a new one when a stream ends with ": token expired"
// (examples/browser/index.html does). The part to copy is IssueToken.
#:package Microsoft.IdentityModel.JsonWebTokens@8.23.0
#:property PublishAot=false

using System.Globalization;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

const string Usage = "usage: EVENTSOURCED_AUTH__JWT__SECRET=... dotnet run issue-token.cs -- SUB [MINUTES] [QUEUE...] [--topics PATTERN]... [--publish PATTERN]...";
var secret = Environment.GetEnvironmentVariable("EVENTSOURCED_AUTH__JWT__SECRET");
var positional = new List<string>();
var topics = new List<string>();
var publish = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i] is "--topics" or "--publish")
    {
        if (i + 1 >= args.Length || args[i + 1].Length == 0)
        {
            Console.Error.WriteLine($"{args[i]} needs a value\n{Usage}");
            return 64;
        }

        (args[i] == "--topics" ? topics : publish).Add(args[++i]);
    }
    else if (args[i].StartsWith("--", StringComparison.Ordinal))
    {
        Console.Error.WriteLine($"unknown option {args[i]}\n{Usage}");
        return 64;
    }
    else
    {
        positional.Add(args[i]);
    }
}

var minutes = 5;
if (positional.Count < 1 || string.IsNullOrEmpty(secret)
    || (positional.Count > 1 && (!int.TryParse(positional[1], NumberStyles.None, CultureInfo.InvariantCulture, out minutes) || minutes <= 0)))
{
    Console.Error.WriteLine(Usage);
    return 64;
}

Console.WriteLine(SubscriberTokens.IssueToken(secret, sub: positional[0], TimeSpan.FromMinutes(minutes), queues: positional.Skip(2).ToArray(), topics.ToArray(), publish.ToArray()));
return 0;

internal static class SubscriberTokens
{
    /// <summary>
    /// A token for <paramref name="sub"/>, valid for <paramref name="lifetime"/>, that may read <paramref name="queues"/>
    /// (none: the queue its sub names) and <paramref name="topics"/>, and publish to <paramref name="publish"/>.
    /// </summary>
    public static string IssueToken(string secret, string sub, TimeSpan lifetime, string[] queues, string[]? topics = null, string[]? publish = null)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (queues.Length > 0)
        {
            claims["queues"] = queues;
        }

        if (topics is { Length: > 0 })
        {
            claims["topics"] = topics;
        }

        if (publish is { Length: > 0 })
        {
            claims["publish"] = publish;
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
