using System.Net;
using System.Text.RegularExpressions;
using Eventsourced.IntegrationTests.Gateway;
using Eventsourced.IntegrationTests.Infrastructure;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// An outage must not flood the log: every subscriber refused for want of a broker connection used to log its own
/// warning (thousands in seconds). Now the first is logged at once and the rest are summed up per reason.
/// </summary>
public sealed partial class RefusalLogTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ManyRefusals_FewWarningLines_ThatCountThemAll()
    {
        const int Requests = 400;
        var port = FreePort.Next();
        await using var process = GatewayProcess.Start(new Dictionary<string, string>
        {
            ["EVENTSOURCED_SERVER__ADDRESS"] = $"127.0.0.1:{port}",
            ["EVENTSOURCED_BROKER__NODE__0"] = $"amqp://guest:guest@127.0.0.1:{FreePort.Next()}/",
        });
        using var client = await process.ListeningClientAsync(port, Patience);

        for (var i = 0; i < Requests; i++)
        {
            using var refused = await client.GetAsync($"/?id=q{i}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        process.Signal("TERM");
        Assert.Equal(0, await process.WaitForExitAsync(Patience));

        var lines = process.Stdout.Split('\n').Where(l => l.Contains("[206]", StringComparison.Ordinal) || l.Contains("[207]", StringComparison.Ordinal)).ToList();
        Assert.InRange(lines.Count, 2, 4);
        var counted = lines.Sum(l => RepeatedCount().Match(l) is { Success: true } m ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 1);
        Assert.Equal(Requests, counted);
    }

    [GeneratedRegex(@"could take a channel (\d+) more times")]
    private static partial Regex RepeatedCount();
}
