using System.Net;
using System.Security.Claims;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Gateways;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>auth.application_user</c> in an application embedding the gateway with a sign-in of its own (cookie authentication
/// here): the signed-in user is the subscriber, its claims name its queue and say what it may read; nobody signed in is 401.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class EmbeddedApplicationUserTests(BrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task NobodySignedIn_Gets401_WithoutABearerChallenge()
    {
        var prefix = broker.UniqueQueueName("app-user-anon");
        await using var app = await StartAsync(prefix);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };

        using var response = await client.GetAsync("/events");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("not signed in", response.Headers.GetValues("X-Status-Reason").Single());
        Assert.Empty(response.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task ASignedInUser_ReadsTheQueueItsClaimNames()
    {
        var prefix = broker.UniqueQueueName("app-user");
        await using var app = await StartAsync(prefix);
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };
        (await client.PostAsync("/login?user=alice", null)).EnsureSuccessStatusCode();

        await using var stream = await SseClient.OpenAsync(client, "/events", null, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, stream.Status);
        await using var amqp = await broker.ConnectAsync(nameof(ASignedInUser_ReadsTheQueueItsClaimNames));
        await amqp.PublishAsync($"{prefix}-alice", "for alice");

        Assert.Equal(["for alice"], await stream.ReadEventsAsync(1, Timeout));
    }

    [Fact]
    public async Task ASignedInUser_IsHeldToTheReadClaimOfItsSignIn()
    {
        var prefix = broker.UniqueQueueName("app-user-topics");
        await using var app = await StartAsync(prefix);
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };
        (await client.PostAsync("/login?user=bob&topic=news", null)).EnsureSuccessStatusCode();

        using var refused = await client.GetAsync($"/topics/{prefix}-other", HttpCompletionOption.ResponseHeadersRead);
        using var allowed = await client.GetAsync("/topics/news", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        // The sign-in stands for a token, and the reason says so: no token was read.
        Assert.Equal($"signed-in user does not permit reading topic '{prefix}-other': its claim 'topics' does not list it", refused.Headers.GetValues("X-Status-Reason").Single());
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task ASignedInUserWithoutTheClaimThePatternReads_Gets400NamingTheSignIn()
    {
        // ASP.NET Core sign-ins name their user by ClaimTypes.NameIdentifier; the queue pattern reads "sub". No token is read
        // here: the reason names the sign-in, or the application's developers go looking for a token they never issued.
        var prefix = broker.UniqueQueueName("app-user-noclaim");
        await using var app = await StartAsync(prefix);
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };
        (await client.PostAsync("/login-name-identifier?user=dave", null)).EnsureSuccessStatusCode();

        using var response = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("signed-in user has no claim 'sub'", response.Headers.GetValues("X-Status-Reason").Single());
    }

    [Fact]
    public async Task ASignedInUsersRequestFromAnotherOriginsPage_IsRefused()
    {
        // The sign-in's cookie goes along with a request from any page (a WebSocket's, or one SameSite=None allows): another
        // origin's page must be listed in header.cors with credentials allowed, or it could read the visitor's queue.
        var prefix = broker.UniqueQueueName("app-user-origin");
        await using var app = await StartAsync(prefix);
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(app.Urls.Single()), Timeout = Timeout };
        (await client.PostAsync("/login?user=carol", null)).EnsureSuccessStatusCode();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        request.Headers.Add("Origin", "https://evil.example");

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.StartsWith("the application's sign-in is accepted from another origin's page only", response.Headers.GetValues("X-Status-Reason").Single(), StringComparison.Ordinal);
    }

    private Task<WebApplication> StartAsync(string prefix) =>
        EmbeddingApp.StartAsync(
            broker.AmqpUrl,
            [("auth:application_user", "true"), ("queue:pattern", prefix + "-${claim:sub}")],
            builder => builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(),
            app =>
            {
                app.UseAuthentication();
                app.MapPost("/login", (HttpContext context, string user, string? topic) =>
                {
                    Claim[] claims = topic is null ? [new("sub", user)] : [new("sub", user), new("topics", topic)];
                    return context.SignInAsync(new ClaimsPrincipal(new ClaimsIdentity(claims, CookieAuthenticationDefaults.AuthenticationScheme)));
                });
                app.MapPost("/login-name-identifier", (HttpContext context, string user) =>
                    context.SignInAsync(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user)], CookieAuthenticationDefaults.AuthenticationScheme))));
                app.MapEventsourced("/events");
                app.MapEventsourcedTopics("/topics/");
            });
}
