using System.Text.Json;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>What the harness page (<c>Browser/Pages/harness.html</c>) recorded, read from the page.</summary>
public sealed record HarnessState(IReadOnlyList<string> Events, int Opens, int Errors, IReadOnlyList<int> States)
{
    /// <summary>The <c>lastEventId</c> of each message event.</summary>
    public IReadOnlyList<string> Ids { get; init; } = [];

    /// <summary>"type: data" of each event of a type the page listened for (<c>?types=</c>).</summary>
    public IReadOnlyList<string> Typed { get; init; } = [];

    /// <summary>EventSource.readyState CONNECTING: it will reconnect.</summary>
    public const int Connecting = 0;

    /// <summary>EventSource.readyState CLOSED: it gave up for good.</summary>
    public const int Closed = 2;

    public override string ToString() =>
        $"opens={Opens} errors={Errors} states=[{string.Join(",", States)}] events({Events.Count})=[{string.Join(" | ", Events)}] ids=[{string.Join(",", Ids)}] typed=[{string.Join(" | ", Typed)}]";
}

internal static class Harness
{
    public static async Task<HarnessState> ReadAsync(IPage page)
    {
        var json = await page.EvaluateAsync<string>("() => JSON.stringify(window.harness)");
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new HarnessState(
            root.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).ToList(),
            root.GetProperty("opens").GetInt32(),
            root.GetProperty("errors").GetInt32(),
            root.GetProperty("states").EnumerateArray().Select(e => e.GetInt32()).ToList())
        {
            Ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList(),
            Typed = root.GetProperty("typed").EnumerateArray().Select(e => e.GetString()!).ToList(),
        };
    }

    /// <summary>Waits until the JavaScript <paramref name="condition"/> over <c>harness</c> holds; the failure shows what the page saw.</summary>
    public static async Task WaitUntilAsync(IPage page, string condition, TimeSpan timeout)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const h = window.harness; return {condition}; }}", null,
                new PageWaitForFunctionOptions { Timeout = (float)timeout.TotalMilliseconds, PollingInterval = 50 });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(
                $"the page did not reach `{condition}` within {timeout.TotalSeconds:0.#} s; it saw: {await ReadAsync(page)}", ex);
        }
    }
}
