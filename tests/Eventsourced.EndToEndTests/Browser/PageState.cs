using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>What a test page records in a global object of its own (<c>window.polled</c>, <c>window.ws</c>), waited for from the test.</summary>
internal static class PageState
{
    /// <summary>
    /// Waits until the JavaScript <paramref name="condition"/> holds, with <c>window.</c><paramref name="global"/> named
    /// <paramref name="alias"/> in it (<c>p.data.length &gt;= 3</c>); the failure shows what the page recorded.
    /// </summary>
    public static async Task WaitUntilAsync(IPage page, string global, string alias, string condition, TimeSpan timeout)
    {
        try
        {
            await page.WaitForFunctionAsync($"() => {{ const {alias} = window.{global}; return {condition}; }}", null,
                new PageWaitForFunctionOptions { Timeout = (float)timeout.TotalMilliseconds, PollingInterval = 50 });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"the page did not reach `{condition}`; it saw: {await ReadAsync(page, global)}", ex);
        }
    }

    /// <summary><c>window.</c><paramref name="global"/> as JSON.</summary>
    public static Task<string> ReadAsync(IPage page, string global) => page.EvaluateAsync<string>($"() => JSON.stringify(window.{global})");
}
