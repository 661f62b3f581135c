using Eventsourced.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Authentication;

internal static class AuthTesting
{
    public static SubscriberAuthenticator Authenticator(Action<AuthOptions> configure)
    {
        var options = new AuthOptions();
        configure(options);
        return new SubscriberAuthenticator(Options.Create(options), TimeProvider.System, NullLogger<SubscriberAuthenticator>.Instance);
    }

    public static SubscriberAuthenticator WithSecret(Action<AuthOptions>? configure = null) =>
        Authenticator(o =>
        {
            o.Jwt.Secret = Eventsourced.Testing.Tokens.TestTokens.Secret;
            configure?.Invoke(o);
        });

    public static HttpContext Request(string? bearer = null, string query = "", string? cookie = null)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        if (bearer is not null)
        {
            context.Request.Headers.Authorization = "Bearer " + bearer;
        }

        if (cookie is not null)
        {
            context.Request.Headers.Cookie = cookie;
        }

        return context;
    }
}
