using System.Net;
using Eventsourced.IntegrationTests.Infrastructure;
using Eventsourced.Testing.Tokens;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// Refusals of one client's request write no line at the default <c>information</c> level (README "Logs"), so that a
/// client cannot flood the log with them: the <c>403</c>s of a token that does not permit the queue and of an origin
/// not allowed, and the <c>404</c> of a topic that may not be created, beside the <c>400</c>, <c>401</c> and <c>405</c>.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ClientRefusalLogTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ClientRefusals_AtInformation_WriteNoLine()
    {
        const int Rounds = 25;
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = broker.AmqpUrl,
            ["EVENTSOURCED_AUTH__JWT__SECRET"] = TestTokens.Secret,
            ["EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin"] = "https://app.example",
            ["EVENTSOURCED_TOPICS__CREATE__0"] = "allowed-*",
        });
        using var client = await process.ListeningClientAsync(port, Patience);
        var queue = broker.UniqueQueueName(nameof(ClientRefusals_AtInformation_WriteNoLine));
        var other = TestTokens.Hs256(TestTokens.Claims("7", "someone-else"));
        var claims = TestTokens.Claims("7", queue);
        claims["topics"] = new[] { "*" };
        var mine = TestTokens.Hs256(claims);

        // The first topic opens the topics' broker connection, whose line is the connection's, not the refusal's.
        await ExpectAsync(client, HttpStatusCode.NotFound, $"/topics/{queue}-first?access_token={mine}");
        await Wait.UntilAsync(() => process.Stdout.Contains("streams #1", StringComparison.Ordinal), Patience, "the topics' connection logged");
        var before = process.Stdout.Length;
        for (var i = 0; i < Rounds; i++)
        {
            await ExpectAsync(client, HttpStatusCode.Forbidden, $"/?id={queue}&access_token={other}");
            await ExpectAsync(client, HttpStatusCode.Forbidden, $"/?id={queue}&access_token={mine}", "https://evil.example");
            await ExpectAsync(client, HttpStatusCode.NotFound, $"/topics/{queue}-{i}?access_token={mine}");
            await ExpectAsync(client, HttpStatusCode.Unauthorized, $"/?id={queue}&access_token=forged-{i}");
            await ExpectAsync(client, HttpStatusCode.BadRequest, $"/?id={queue}%01&access_token={mine}");
        }

        var during = process.Stdout[before..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Empty(during);
        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));
    }

    private static async Task ExpectAsync(HttpClient client, HttpStatusCode status, string pathAndQuery, string? origin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(status, response.StatusCode);
    }
}
