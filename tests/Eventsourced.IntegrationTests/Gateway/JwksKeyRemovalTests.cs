using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.IdentityModel.Tokens;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>auth.jwt.jwks_url</c> through a real gateway, with the key set served on loopback: an issuer that removes a key
/// (revokes it) ends the streams that key's tokens opened, as their expiry would; other keys' streams go on.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class JwksKeyRemovalTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly RSA _revoked = RSA.Create(2048);
    private readonly RSA _kept = RSA.Create(2048);
    private JwksServer _issuer = null!;

    public async Task InitializeAsync() => _issuer = await JwksServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _issuer.DisposeAsync();
        _revoked.Dispose();
        _kept.Dispose();
    }

    private static string Token(RSA key, string kid, string queue) =>
        TestTokens.Sign(new RsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.RsaSha256, TestTokens.Claims("7", queue), TimeSpan.FromHours(1));

    [Fact]
    public async Task StreamAndWebSocket_TheirKeyRemovedFromTheSet_EndAsAtExpiry_AnotherKeysStreamGoesOn()
    {
        _issuer.Document = TestTokens.Jwks(("k1", _revoked), ("k2", _kept));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Auth.Jwt.JwksUrl = _issuer.Url;
            o.Auth.Jwt.JwksCooldownSeconds = 1;
        });
        var name = nameof(StreamAndWebSocket_TheirKeyRemovedFromTheSet_EndAsAtExpiry_AnotherKeysStreamGoesOn);
        var ended = broker.UniqueQueueName(name + "-k1");
        var going = broker.UniqueQueueName(name + "-k2");
        await using var amqp = await broker.ConnectAsync(name);
        await using var first = await gateway.SubscribeAsync($"/?id={ended}&access_token={Token(_revoked, "k1", ended)}");
        await using var second = await gateway.SubscribeAsync($"/?id={going}&access_token={Token(_kept, "k2", going)}");
        var socketQueue = broker.UniqueQueueName(name + "-ws");
        await using var socket = await gateway.ConnectWebSocketAsync($"/ws?id={socketQueue}&access_token={Token(_revoked, "k1", socketQueue)}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.True(socket.Connected, $"{socket.Status} {socket.Reason}");
        await amqp.PublishAsync(ended, "before the removal");
        Assert.Equal(["before the removal"], await first.ReadEventsAsync(1, Patience));

        // The issuer revokes k1. A token naming a key id the set lacks makes the gateway fetch the set at once (past the
        // cooldown) rather than at the next jwks_refresh.
        _issuer.Document = TestTokens.Jwks(("k2", _kept));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var other = broker.UniqueQueueName(name + "-k3");
        using var unknown = await gateway.Client.GetAsync($"/?id={other}&access_token={Token(_revoked, "k3", other)}");
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);

        await first.WaitForEndAsync(Patience);
        Assert.EndsWith(": token expired; subscribe again with a new token\n\n", first.RawText, StringComparison.Ordinal);
        await socket.WaitForCloseAsync(Patience);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Equal("token expired", socket.CloseDescription);
        using var again = await gateway.Client.GetAsync($"/?id={ended}&access_token={Token(_revoked, "k1", ended)}");
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);

        await amqp.PublishAsync(going, "after the removal");
        Assert.Equal(["after the removal"], await second.ReadEventsAsync(1, Patience));
        Assert.False(second.Ended);

        // What was published to the ended stream's queue after its end waits there for a subscriber with a valid token.
        await amqp.PublishAsync(ended, "for the next token");
        await using var renewed = await gateway.SubscribeAsync($"/?id={ended}&access_token={Token(_kept, "k2", ended)}");
        Assert.Equal(["for the next token"], await renewed.ReadEventsAsync(1, Patience));
    }
}
