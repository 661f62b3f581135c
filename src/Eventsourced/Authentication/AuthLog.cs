using Eventsourced.Logging;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Authentication;

/// <summary>Authentication's log lines. Never a token, a secret or a claim: only where keys came from and why a token was refused.</summary>
internal static partial class AuthLog
{
    [LoggerMessage(EventIds.AuthKeys, LogLevel.Information, "Subscriber tokens required: {Keys}; tokens read from {Sources}", EventName = "AuthKeys")]
    public static partial void Keys(ILogger logger, string keys, string sources);

    [LoggerMessage(EventIds.AuthApplicationUser, LogLevel.Information, "Subscribers are the users the application signed in (auth.application_user); no tokens are read", EventName = "AuthApplicationUser")]
    public static partial void ApplicationUser(ILogger logger);

    [LoggerMessage(EventIds.JwksFetched, LogLevel.Information, "Fetched {Count} signing key(s) from {Url}: key ids {Kids}", EventName = "JwksFetched")]
    public static partial void JwksFetched(ILogger logger, string url, int count, string kids);

    [LoggerMessage(EventIds.JwksFetchFailed, LogLevel.Warning, "Fetching signing keys from {Url} failed ({Problem}); the last keys fetched stay in use", EventName = "JwksFetchFailed")]
    public static partial void JwksFetchFailed(ILogger logger, string url, string problem);

    [LoggerMessage(EventIds.JwksKeysRemoved, LogLevel.Information, "Signing key(s) {Kids} left the set of {Url}: tokens they signed are refused, and with auth.end_at_expiry the streams those tokens opened end as at their expiry", EventName = "JwksKeysRemoved")]
    public static partial void JwksKeysRemoved(ILogger logger, string url, string kids);
}
