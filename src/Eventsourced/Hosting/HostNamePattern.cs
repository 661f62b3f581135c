using Eventsourced.Configuration;

namespace Eventsourced.Hosting;

/// <summary>
/// One entry of <c>server.hosts</c>: a host name (<c>push.example.com</c>), every name below a domain
/// (<c>*.example.com</c>), an IPv4 address or a bracketed IPv6 address, or <c>*</c> for any; without scheme, port or
/// path, since the request's <c>Host</c> is matched without its port (<see cref="Microsoft.AspNetCore.Http.HostString.MatchesAny"/>).
/// </summary>
internal sealed class HostNamePattern : IValueRule
{
    private HostNamePattern()
    {
    }

    public static string? Check(string value)
    {
        var bracketed = value.Length > 1 && value[0] == '[' && value[^1] == ']';
        var hostPart = bracketed ? value[1..^1] : value;
        return value.Length == 0 ? "empty host name (leave server.hosts empty to answer every host)"
            : value.Contains('/') ? $"expected a host name without scheme or path, got {ConfigText.Quote(value)}"
            : hostPart.Contains('[') || hostPart.Contains(']') || (!bracketed && value.Contains(':'))
                ? $"expected a host name without a port (an IPv6 address in brackets), got {ConfigText.Quote(value)}"
            : value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) ? $"host name contains spaces or control characters: {ConfigText.Quote(value)}"
            : value.IndexOf('*', 1) >= 0 || (value[0] == '*' && value != "*" && !value.StartsWith("*.", StringComparison.Ordinal))
                ? $"'*' only as the whole entry or as its first label (*.example.com), got {ConfigText.Quote(value)}"
            : null;
    }
}
