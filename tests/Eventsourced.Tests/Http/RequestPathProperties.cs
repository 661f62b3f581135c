using System.Net;
using System.Text;
using Eventsourced.Http;
using Eventsourced.Limits;
using Eventsourced.Naming;
using Eventsourced.Sse;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Http;

/// <summary>Text as an attacker would send it: control characters, percent signs, separators, invisible and bidi characters, lone surrogates.</summary>
public sealed record HostileText(string Value)
{
    public override string ToString() => $"HostileText({string.Concat(Value.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:x4}"))})";
}

/// <summary>A value of letters, digits and <c>-_.~</c>: what an application would use as an id.</summary>
public sealed record PlainId(string Value);

/// <summary>
/// A cookie value of RFC 6265 cookie-octets, without <c>%</c>: ASP.NET Core percent-decodes cookie values (what
/// becomes of escapes in names is part of the ambiguous-input rules, tested with the resolver).
/// </summary>
public sealed record CookieOctets(string Value);

public static class RequestArbitraries
{
    private static readonly char[] Hostile =
    [
        '\0', '\u0001', '\t', '\n', '\r', '\u001b', '\u007f', '%', '&', '=', ';', ',', ' ', '+', '#', '?', '/', '"', '\\', '$', '{', '}',
        'é', '東', '\u200b', '\u202e', '\ufeff', '\ud800', '\udfff', '\u00a0', 'A', 'm', 'q', '.', '0', '9',
    ];

    private static readonly char[] Plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~".ToCharArray();

    private static readonly char[] Cookie =
        Enumerable.Range(0x21, 0x7e - 0x21 + 1).Select(c => (char)c).Where(c => c is not ('"' or ',' or ';' or '\\' or '%')).ToArray();

    public static Arbitrary<HostileText> HostileText() =>
        Gen.Frequency((3, Gen.Elements(Hostile)), (2, Gen.Choose(0, 0xffff).Select(i => (char)i)), (5, Gen.Elements(Plain)))
            .ArrayOf()
            .Select(chars => new HostileText(new string(chars)))
            .ToArbitrary();

    public static Arbitrary<PlainId> PlainId() =>
        Gen.Choose(1, 200).SelectMany(n => Gen.Elements(Plain).ArrayOf(n)).Select(chars => new PlainId(new string(chars)))
            .Where(id => !id.Value.StartsWith("amq.", StringComparison.OrdinalIgnoreCase))
            .ToArbitrary();

    public static Arbitrary<CookieOctets> CookieOctets() =>
        Gen.Choose(1, 200).SelectMany(n => Gen.Elements(Cookie).ArrayOf(n)).Select(chars => new CookieOctets(new string(chars))).ToArbitrary();
}

/// <summary>
/// Properties of the request path's pieces, over generated hostile input: parsing the query and the cookies,
/// resolving the queue name, and building the answer's headers never throw, and never produce a name the broker
/// would refuse or a header Kestrel would refuse.
/// </summary>
[Properties(Arbitrary = [typeof(RequestArbitraries)], MaxTest = 500)]
public sealed class RequestPathProperties
{
    private static readonly QueueNameResolver Resolver = new(QueuePattern.Parse("app.${query:id}-${cookie:sid}"));

    [Property]
    public void AnyQueryAndCookieHeader_ResolveToABrokerSafeName_OrARefusalWithAHeaderSafeReason(HostileText query, HostileText cookie)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?" + query.Value);
        context.Request.Headers.Cookie = cookie.Value;

        if (Resolver.TryResolve(context.Request, out var name, out var reason))
        {
            Assert.StartsWith("app.", name, StringComparison.Ordinal);
            Assert.InRange(Encoding.UTF8.GetByteCount(name), 1, QueueNameResolver.MaxQueueNameBytes);
            Assert.DoesNotContain(name, c => char.IsControl(c));
            Assert.Empty(reason);
        }
        else
        {
            Assert.NotEmpty(reason);
            Assert.Null(HeaderValue.Check(StatusReason.AsHeaderValue(reason)));
        }
    }

    [Property]
    public void AnIdSentEscaped_IsTheNameAsSent(PlainId id, CookieOctets sid)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?id=" + Uri.EscapeDataString(id.Value));
        context.Request.Headers.Cookie = "sid=" + sid.Value;

        var resolved = Resolver.TryResolve(context.Request, out var name, out var reason);

        var expected = $"app.{id.Value}-{sid.Value}";
        Assert.Equal(Encoding.UTF8.GetByteCount(expected) <= QueueNameResolver.MaxQueueNameBytes, resolved);
        if (resolved)
        {
            Assert.Equal(expected, name);
        }
        else
        {
            Assert.Equal($"queue name longer than {QueueNameResolver.MaxQueueNameBytes} bytes", reason);
        }
    }

    [Property]
    public void AnyReason_BecomesAVisibleAsciiHeaderValueOfTheSameLength(HostileText reason)
    {
        var value = StatusReason.AsHeaderValue(reason.Value);

        Assert.Equal(reason.Value.Length, value.Length);
        Assert.All(value, c => Assert.InRange(c, ' ', '~'));
    }

    [Property]
    public void AConfiguredHeaderValue_ThatPassesTheRule_HasOnlyCharactersKestrelSends(HostileText value) =>
        Assert.True(HeaderValue.Check(value.Value) is not null || value.Value.All(c => c == '\t' || c is >= ' ' and <= '~'));

    [Property]
    public void ConfiguredHeaders_AreAppliedExceptThoseOfTheHttpServer(HostileText name, HostileText value)
    {
        var headerName = new string(name.Value.Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').ToArray());
        var headerValue = new string(value.Value.Where(c => c is >= ' ' and <= '~').ToArray());
        if (HeaderName.Check(headerName) is not null)
        {
            return;
        }

        var options = new HeaderOptions { Cors = new(StringComparer.OrdinalIgnoreCase) { [headerName] = headerValue, ["Transfer-Encoding"] = "identity" } };
        var headers = new SseResponseHeaders(options);
        var context = new DefaultHttpContext();

        SseResponseHeaders.Apply(context.Response, headers.Cors);

        Assert.False(context.Response.Headers.ContainsKey("Transfer-Encoding"));
        if (headerValue.Length > 0 && !headerName.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Equal(headerValue, context.Response.Headers[headerName].ToString());
        }
    }

    [Property]
    public void ClientAddress_IPv6CountsBySlash64_IPv4MappedAsIPv4(byte[] prefix, byte[] suffix, byte[] other)
    {
        var a = Address(prefix, suffix);
        var b = Address(prefix, other);

        Assert.Equal(Key(a), Key(b));
        Assert.EndsWith("/64", Key(a), StringComparison.Ordinal);
        var v4 = new IPAddress(suffix.Concat(new byte[4]).Take(4).ToArray());
        Assert.Equal(v4.ToString(), Key(v4.MapToIPv6()));
        Assert.Equal(v4.ToString(), Key(v4));

        static IPAddress Address(byte[] high, byte[] low) =>
            new(high.Concat(new byte[8]).Take(8).Concat(low.Concat(new byte[8]).Take(8)).ToArray());

        static string Key(IPAddress address)
        {
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = address;
            return ClientAddress.PartitionKey(context, new LimitsOptions().Ipv6Prefix);
        }
    }
}
