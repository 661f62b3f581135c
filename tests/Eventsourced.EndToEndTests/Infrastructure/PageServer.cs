using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Eventsourced.Testing.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// The web application a browser page comes from: another origin than the gateway's (another host name
/// and port), as in a real deployment where <c>app.example</c> serves pages and <c>push.example</c> streams.
/// Serves the test harness (<c>/harness.html</c>), the test pages (<c>/pages/</c>), the demo page (<c>/demo/</c>, from
/// <c>examples/browser</c>) and the chat (<c>/chat/</c>, from <c>examples/chat</c>).
/// </summary>
public sealed class PageServer : IAsyncDisposable
{
    /// <summary>The parent domain both host names share: the page's cookies are set for it.</summary>
    public const string SiteDomain = "example.test";

    /// <summary>The page's host name. The browser resolves every <c>*.example.test</c> to 127.0.0.1.</summary>
    public const string PageHost = "app." + SiteDomain;

    /// <summary>The gateway's host name.</summary>
    public const string GatewayHost = "push." + SiteDomain;

    private readonly WebApplication _app;

    private PageServer(WebApplication app, int port, string scheme)
    {
        _app = app;
        Port = port;
        _scheme = scheme;
    }

    /// <summary>The cookie <see cref="HarnessUrl"/> sets with <c>token</c>: a subscriber token, as <c>auth.from_cookie: token</c> reads it.</summary>
    public const string TokenCookie = "token";

    /// <summary>The key of the tokens <c>/token?refused=N</c> issues first: not the gateway's.</summary>
    private const string RefusedTokenSecret = "a key no gateway of the tests has, 32 bytes or more";

    private readonly string _scheme;
    private StrongBox<int> _issued = new();

    public int Port { get; }

    /// <summary>Tokens <c>/token</c> has issued.</summary>
    public int TokensIssued => Volatile.Read(ref _issued.Value);

    /// <summary>The page's token endpoint for subject <paramref name="sub"/>, tokens valid for <paramref name="seconds"/>.</summary>
    public string TokenUrl(string sub, int seconds) => $"{Origin}/token?sub={Uri.EscapeDataString(sub)}&seconds={seconds}";

    /// <summary>As <see cref="TokenUrl(string, int)"/>, the tokens also with the claims <c>topics</c> and <c>publish</c> (lists of patterns).</summary>
    public string TokenUrl(string sub, int seconds, IEnumerable<string> topics, IEnumerable<string> publish) =>
        TokenUrl(sub, seconds)
        + string.Concat(topics.Select(t => "&topics=" + Uri.EscapeDataString(t)))
        + string.Concat(publish.Select(p => "&publish=" + Uri.EscapeDataString(p)));

    /// <summary><c>http://app.example.test:PORT</c>: what the browser sends as <c>Origin</c>.</summary>
    public string Origin => $"{_scheme}://{PageHost}:{Port}";

    /// <summary>The gateway at <paramref name="gatewayPort"/> as the page addresses it.</summary>
    public static string GatewayUrl(int gatewayPort, string pathAndQuery = "/") => $"http://{GatewayHost}:{gatewayPort}{pathAndQuery}";

    /// <summary>The harness page, opening an EventSource on <paramref name="streamUrl"/>.</summary>
    /// <param name="withCredentials">Passes <c>{ withCredentials: true }</c> to EventSource.</param>
    /// <param name="sessionCookie">Set as cookie <c>sid</c> for <c>.example.test</c> with the page, as an application's login would.</param>
    /// <param name="tokenCookie">Set as cookie <c>token</c> (HttpOnly) for <c>.example.test</c>, as an application would after login.</param>
    public string HarnessUrl(string streamUrl, bool withCredentials = false, string? sessionCookie = null, string? tokenCookie = null)
    {
        var query = $"?src={Uri.EscapeDataString(streamUrl)}" + (withCredentials ? "&credentials=1" : "");
        if (sessionCookie is not null)
        {
            query += $"&sid={Uri.EscapeDataString(sessionCookie)}";
        }

        if (tokenCookie is not null)
        {
            query += $"&{TokenCookie}={Uri.EscapeDataString(tokenCookie)}";
        }

        return $"{Origin}/harness.html{query}";
    }

    /// <summary>A test page of <c>Browser/Pages</c> (e.g. <c>websocket.html</c>) with <paramref name="query"/>.</summary>
    public string PageUrl(string file, string query) => $"{Origin}/pages/{file}{query}";

    /// <summary>The chat page from <c>examples/chat</c> with <paramref name="query"/>.</summary>
    public string ChatUrl(string query) => $"{Origin}/chat/index.html{query}";

    /// <summary>The demo page from <c>examples/browser</c>.</summary>
    public string DemoUrl(string query) => $"{Origin}/demo/index.html{query}";

    /// <summary>Starts the pages' server on loopback: over HTTPS with <paramref name="certificate"/>, plain HTTP without.</summary>
    public static async Task<PageServer> StartAsync(X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (certificate is null)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }
        else
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        }

        var app = builder.Build();
        var pages = Path.Combine(AppContext.BaseDirectory, "Browser", "Pages");
        var demo = RepoPaths.Examples("browser");
        app.MapGet("/harness.html", async context =>
        {
            foreach (var cookie in new[] { "sid", TokenCookie })
            {
                if (context.Request.Query[cookie] is [{ Length: > 0 } value])
                {
                    context.Response.Cookies.Append(cookie, value, new CookieOptions
                    {
                        Domain = SiteDomain,
                        Path = "/",
                        SameSite = SameSiteMode.Lax,
                        HttpOnly = true,
                    });
                }
            }

            await SendFileAsync(context, Path.Combine(pages, "harness.html"));
        });
        app.MapGet("/pages/{file}", (HttpContext context, string file) =>
            SendFileAsync(context, Path.Combine(pages, Path.GetFileName(file))));
        app.MapGet("/chat/{file}", (HttpContext context, string file) =>
            SendFileAsync(context, Path.Combine(RepoPaths.Examples("chat"), Path.GetFileName(file))));
        // The application's token endpoint, as a logged-in page would call it: a fresh HS256 token for ?sub=,
        // valid for ?seconds= (default 300), with the claims topics and publish when given (?topics=...&publish=...),
        // as text. Counts the tokens it issued. With ?refused=N the first N tokens it issues are signed with a key the
        // gateway does not have, as while an application and its gateways disagree on keys in a rotation.
        var issued = new StrongBox<int>();
        app.MapGet("/token", (HttpContext context) =>
        {
            var number = Interlocked.Increment(ref issued.Value);
            var seconds = int.TryParse(context.Request.Query["seconds"], out var s) ? s : 300;
            context.Response.Headers.CacheControl = "no-store";
            var claims = TestTokens.Claims(context.Request.Query["sub"].ToString());
            foreach (var claim in new[] { "topics", "publish" })
            {
                if (context.Request.Query[claim] is { Count: > 0 } patterns)
                {
                    claims[claim] = patterns.ToArray();
                }
            }

            var refused = int.TryParse(context.Request.Query["refused"], out var r) ? r : 0;
            return Results.Text(number <= refused
                ? TestTokens.Hs256(claims, TimeSpan.FromSeconds(seconds), secret: RefusedTokenSecret)
                : TestTokens.Hs256(claims, TimeSpan.FromSeconds(seconds)));
        });
        app.MapGet("/demo/{file}", (HttpContext context, string file) =>
            SendFileAsync(context, Path.Combine(demo, Path.GetFileName(file))));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new PageServer(app, new Uri(address).Port, certificate is null ? "http" : "https") { _issued = issued };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static async Task SendFileAsync(HttpContext context, string path)
    {
        if (!File.Exists(path))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        context.Response.ContentType = Path.GetExtension(path) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            _ => "application/octet-stream",
        };
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.SendFileAsync(path);
    }
}
