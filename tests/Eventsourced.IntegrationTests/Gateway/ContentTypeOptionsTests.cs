using System.Net;
using System.Net.Http.Headers;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// <c>X-Content-Type-Options: nosniff</c> on what the gateway answers with content, not only on its refusals: a stream's
/// and a long-poll's 200 carry what clients and services published, and a browser must never sniff that into HTML.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ContentTypeOptionsTests(BrokerFixture broker)
{
    [Fact]
    public async Task StreamsPollsAndObservabilityAnswers_CarryNosniff()
    {
        const string token = "s3cret-scrape-token";
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl, o =>
        {
            o.Poll.WaitSeconds = 1;
            o.Metrics.Token = token;
        });

        var queue = broker.UniqueQueueName("nosniff-sse");
        await using (var sse = await gateway.SubscribeAsync($"/?id={queue}"))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
            Assert.Equal("nosniff", sse.Response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        using (var poll = await gateway.Client.GetAsync($"/poll?id={broker.UniqueQueueName("nosniff-poll")}"))
        {
            Assert.Equal(HttpStatusCode.OK, poll.StatusCode);
            Assert.Equal("[]", await poll.Content.ReadAsStringAsync());
            Assert.Equal("nosniff", poll.Headers.GetValues("X-Content-Type-Options").Single());
        }

        foreach (var path in new[] { "/metrics", "/debug/vars", "/healthz", "/readyz" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
            using var response = await gateway.Client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
            Assert.True(response.Headers.TryGetValues("X-Content-Type-Options", out var values), $"{path}: no X-Content-Type-Options");
            Assert.Equal("nosniff", values.Single());
        }
    }
}
