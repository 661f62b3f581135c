using System.Security.Claims;
using Eventsourced.Authentication;
using Eventsourced.Consuming;
using Eventsourced.Naming;
using Microsoft.Extensions.Options;

namespace Eventsourced.Authorization;

/// <summary>
/// What a verified token may read and publish. Transports and kinds of subscription ask here, never decide
/// themselves. Without keys (<c>auth.jwt</c>) the gateway is unauthenticated and both answers are yes. With
/// <c>auth.application_user</c>, the embedding application's signed-in user stands for the token: its claims are read the same way.
/// <para>
/// Reading: for a kind listed in <c>auth.read_claims</c> (by default <c>queue: queues</c>), the token's claim of
/// that name lists the names it may read, each exact or a pattern where <c>*</c> stands for any run of
/// characters (<c>["user-42", "team-7-*"]</c>, a JSON array or one string). A token without that claim may read
/// a queue only when <c>queue.pattern</c> takes part of the name from the token itself (<c>${claim:sub}</c>):
/// the name is then the token's own by construction. A kind not listed: any valid token may read any name.
/// </para>
/// <para>
/// Publishing: the claim <c>auth.publish_claim</c> (default <c>publish</c>) lists the destinations, exact or
/// with <c>*</c>; a token without it publishes nowhere. An empty <c>auth.publish_claim</c>: any valid token anywhere.
/// </para>
/// </summary>
internal sealed class SubscriberPermissions(IOptions<AuthOptions> auth, IOptions<QueueOptions> queue)
{
    private readonly bool _enabled = auth.Value.IdentifiesSubscribers;
    private readonly bool _applicationUser = auth.Value.ApplicationUser;
    private readonly Dictionary<string, string> _readClaims = new(auth.Value.ReadClaims.Where(e => e.Value.Length > 0), StringComparer.OrdinalIgnoreCase);
    private readonly string _publishClaim = auth.Value.PublishClaim;
    private readonly bool _queueNamedByToken = QueuePattern.Parse(queue.Value.Pattern).UsesClaims;

    /// <summary>The claim a sender is taken from, as a refusal names it (see <see cref="Sender"/>).</summary>
    public string SenderClaim => _applicationUser ? "claim 'sub' (or a name identifier)" : "sub";

    /// <summary>Whether <paramref name="user"/> may read <paramref name="name"/> of <paramref name="kind"/> (<c>queue</c>, <c>topic</c>, ...).</summary>
    public bool MayRead(ClaimsPrincipal user, string kind, string name)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (!_enabled || !_readClaims.TryGetValue(kind, out var claim))
        {
            return true;
        }

        var entries = user.FindAll(claim).ToArray();
        if (entries.Length == 0)
        {
            return kind == QueueTarget.KindName && _queueNamedByToken;
        }

        return entries.Any(entry => NamePattern.Matches(entry.Value, name));
    }

    /// <summary>
    /// Why <paramref name="user"/> may not read <paramref name="name"/> of <paramref name="kind"/>, naming the claim: the token has
    /// none of that name (an application that issues tokens without it learns which claim <c>auth.read_claims</c> reads), or its
    /// claim does not list the name; null when it may read it.
    /// </summary>
    public string? ReadRefusal(ClaimsPrincipal user, string kind, string name) =>
        MayRead(user, kind, name) ? null : $"{SubscriberAuthenticator.HolderOf(user)} does not permit reading {kind} '{name}': {ClaimProblem(user, _readClaims[kind])}";

    /// <summary>Why <paramref name="user"/> may not publish to <paramref name="destination"/>, naming the claim (as <see cref="ReadRefusal"/>); null when it may.</summary>
    public string? PublishRefusal(ClaimsPrincipal user, string destination) =>
        MayPublish(user, destination) ? null : $"{SubscriberAuthenticator.HolderOf(user)} does not permit publishing to '{destination}': {ClaimProblem(user, _publishClaim)}";

    /// <summary>Whether the gateway knows who its clients are (<c>auth.jwt</c> has a key, or <c>auth.application_user</c>).</summary>
    public bool IdentifiesSubscribers => _enabled;

    /// <summary>
    /// Who <paramref name="user"/> is, as the messages it publishes name it (the <c>sender</c> header): its verified
    /// token's <c>sub</c> (for <c>auth.application_user</c>, else the name identifier ASP.NET Core may have mapped it to);
    /// null without tokens (the gateway knows nobody then) or for a token without a <c>sub</c>, or with an empty one.
    /// </summary>
    public string? Sender(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var sub = user.FindFirst("sub") ?? (_applicationUser ? user.FindFirst(ClaimTypes.NameIdentifier) : null);
        return _enabled && sub?.Value is { Length: > 0 } value ? value : null;
    }

    /// <summary>Whether <paramref name="user"/> may publish to <paramref name="destination"/>.</summary>
    public bool MayPublish(ClaimsPrincipal user, string destination)
    {
        ArgumentNullException.ThrowIfNull(user);
        return !_enabled || _publishClaim.Length == 0 || user.FindAll(_publishClaim).Any(entry => NamePattern.Matches(entry.Value, destination));
    }

    private static string ClaimProblem(ClaimsPrincipal user, string claim) =>
        user.FindFirst(claim) is null ? $"its claim '{claim}' is missing or empty" : $"its claim '{claim}' does not list it";
}

/// <summary>A name or a pattern of names in a token's claim: <c>*</c> stands for any run of characters (also none); all else is literal and case-sensitive.</summary>
internal static class NamePattern
{
    public static bool Matches(string pattern, string name)
    {
        if (!pattern.Contains('*', StringComparison.Ordinal))
        {
            return string.Equals(pattern, name, StringComparison.Ordinal);
        }

        // Greedy match with backtracking to the last star: linear in practice, never exponential.
        int p = 0, n = 0, star = -1, resume = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = n;
            }
            else if (p < pattern.Length && pattern[p] == name[n])
            {
                p++;
                n++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
