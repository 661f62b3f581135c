using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Eventsourced.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Eventsourced.Naming;

/// <summary>How looking up one value of a request went.</summary>
internal enum RequestValueStatus
{
    Found,

    /// <summary>Not there (or empty).</summary>
    Missing,

    /// <summary>Given more than once: which one was meant cannot be known.</summary>
    Repeated,

    /// <summary>Not valid percent-encoded UTF-8: it would read like another, valid spelling.</summary>
    BadEncoding,
}

/// <summary>
/// Query parameters and cookies that name what a request asks for (a queue, a token), read so that no two
/// different requests read alike. ASP.NET's own collections are made for forms, not for naming: they match
/// names ignoring case, keep one of two equal names silently, and leave invalid escapes as text (so that
/// <c>%zz</c> and <c>%25zz</c> read the same). Here a name matches exactly, a repeated one is refused, and a
/// value must be valid percent-encoded UTF-8. The raw query is split by ASP.NET's
/// <see cref="QueryStringEnumerable"/>; only the strict decoding is written here, because no framework
/// decoder refuses what it cannot decode.
/// </summary>
internal static class RequestValues
{
    private static readonly SearchValues<char> Escapes = SearchValues.Create("%+");

    /// <summary>
    /// The verified token's claim <paramref name="name"/> (SubscriptionGate put its principal in <c>HttpContext.User</c>) as
    /// text for a name: null when it has one value, a string, number or boolean; else why not. A JSON object became its
    /// JSON text (<c>team.{"x": 1}</c> as a routing key), so it is refused as an array is.
    /// </summary>
    public static string? Claim(HttpRequest request, string name, out string value)
    {
        value = string.Empty;
        var claims = request.HttpContext.User.FindAll(name).ToArray();
        if (claims.Length == 0 || claims[0].Value.Length == 0)
        {
            return $"{ClaimHolder(request)} has no claim '{name}'";
        }

        if (claims.Length > 1)
        {
            return $"{ClaimLabel(request)} '{name}' has several values";
        }

        if (claims[0].ValueType is JsonClaimValueTypes.Json or JsonClaimValueTypes.JsonArray or JsonClaimValueTypes.JsonNull)
        {
            return $"{ClaimLabel(request)} '{name}' is not a string or a number";
        }

        value = claims[0].Value;
        return null;
    }

    /// <summary>Whose claims the request's user has, as reasons name it (see <see cref="SubscriberAuthenticator.HolderOf"/>).</summary>
    public static string ClaimHolder(HttpRequest request) => SubscriberAuthenticator.HolderOf(request.HttpContext.User);

    /// <summary>A claim of the request's user as reasons name it (see <see cref="SubscriberAuthenticator.ClaimOf"/>).</summary>
    public static string ClaimLabel(HttpRequest request) => SubscriberAuthenticator.ClaimOf(request.HttpContext.User);

    /// <summary>The query parameter <paramref name="name"/>; <c>+</c> is a space, as in forms.</summary>
    public static RequestValueStatus Query(HttpRequest request, string name, out string value)
    {
        value = string.Empty;
        var found = 0;
        var bad = false;
        foreach (var pair in new QueryStringEnumerable(request.QueryString.Value))
        {
            if (!TryDecode(pair.EncodedName.Span, plusIsSpace: true, out var decodedName) || decodedName != name)
            {
                continue;
            }

            if (++found > 1)
            {
                return RequestValueStatus.Repeated;
            }

            bad = !TryDecode(pair.EncodedValue.Span, plusIsSpace: true, out value);
        }

        return found == 0 ? RequestValueStatus.Missing
            : bad ? RequestValueStatus.BadEncoding
            : value.Length == 0 ? RequestValueStatus.Missing
            : RequestValueStatus.Found;
    }

    /// <summary>
    /// The cookie <paramref name="name"/>, matched exactly (cookie names are case-sensitive, RFC 6265), across
    /// every <c>Cookie</c> header. Its value, without the double quotes that may wrap it (RFC 6265), is percent-decoded
    /// as ASP.NET's <c>Response.Cookies.Append</c> encodes it. A duplicate is refused: a sibling subdomain can set a second cookie of the same name
    /// (<c>Domain=example.com</c>), and the browser sends both.
    /// </summary>
    public static RequestValueStatus Cookie(HttpRequest request, string name, out string value)
    {
        value = string.Empty;
        var found = 0;
        var bad = false;
        foreach (var header in request.Headers.Cookie)
        {
            // cookie-string = cookie-pair *( ";" SP cookie-pair ), RFC 6265 section 4.2.1; split here rather than
            // by ASP.NET's parser, which keeps one of two equal names.
            foreach (var range in (header ?? string.Empty).AsSpan().Split(';'))
            {
                var pair = (header ?? string.Empty).AsSpan()[range].Trim(' ');
                var equals = pair.IndexOf('=');
                if (equals <= 0 || !pair[..equals].TrimEnd(' ').SequenceEqual(name))
                {
                    continue;
                }

                if (++found > 1)
                {
                    return RequestValueStatus.Repeated;
                }

                bad = !TryDecode(Unquoted(pair[(equals + 1)..].Trim(' ')), plusIsSpace: false, out value);
            }
        }

        return found == 0 ? RequestValueStatus.Missing
            : bad ? RequestValueStatus.BadEncoding
            : value.Length == 0 ? RequestValueStatus.Missing
            : RequestValueStatus.Found;
    }

    /// <summary>
    /// A cookie's value without the double quotes that may wrap it: RFC 6265 section 4.1.1 has cookie-value =
    /// *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ), and an application that sets a value quoted
    /// (<c>Set-Cookie: token="..."</c>) means the text between them, as Go's net/http, Node's cookie and Python's
    /// http.cookies read it back (ASP.NET's Request.Cookies keeps them). Read with the quotes, a token in such a cookie
    /// was a "malformed token", and a queue's name was not the one its application reads from the same cookie.
    /// </summary>
    private static ReadOnlySpan<char> Unquoted(ReadOnlySpan<char> value) =>
        value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;

    /// <summary>Percent-decodes <paramref name="encoded"/>; false for a <c>%</c> without two hex digits or bytes that are not UTF-8.</summary>
    internal static bool TryDecode(ReadOnlySpan<char> encoded, bool plusIsSpace, out string decoded)
    {
        if (encoded.IndexOfAny(Escapes) < 0)
        {
            decoded = encoded.ToString();
            return true;
        }

        var bytes = new byte[Encoding.UTF8.GetMaxByteCount(encoded.Length)];
        var length = 0;
        for (var i = 0; i < encoded.Length;)
        {
            var c = encoded[i];
            if (c == '%')
            {
                if (i + 2 >= encoded.Length || !char.IsAsciiHexDigit(encoded[i + 1]) || !char.IsAsciiHexDigit(encoded[i + 2]))
                {
                    decoded = string.Empty;
                    return false;
                }

                bytes[length++] = (byte)((HexValue(encoded[i + 1]) << 4) | HexValue(encoded[i + 2]));
                i += 3;
            }
            else if (c == '+')
            {
                bytes[length++] = plusIsSpace ? (byte)' ' : (byte)'+';
                i++;
            }
            else
            {
                var run = encoded[i..];
                var end = run.IndexOfAny(Escapes);
                run = end < 0 ? run : run[..end];
                length += Encoding.UTF8.GetBytes(run, bytes.AsSpan(length));
                i += run.Length;
            }
        }

        var chars = new char[length];
        if (Utf8.ToUtf16(bytes.AsSpan(0, length), chars, out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            decoded = string.Empty;
            return false;
        }

        decoded = new string(chars, 0, written);
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
