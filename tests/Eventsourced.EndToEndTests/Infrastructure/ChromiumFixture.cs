using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>) driven by Playwright's bundled node driver; never a browser
/// download. Launched on first use and shared by the collection; each test gets a fresh context (cookies,
/// cache) with <see cref="NewPageAsync"/>.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    public const string ExecutablePath = "/usr/bin/chromium";

    private readonly SemaphoreSlim _launch = new(1, 1);
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A page in a new, empty browser context. Dispose the context (<c>page.Context</c>) when done.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var browser = await BrowserAsync();
        var context = await browser.NewContextAsync();
        context.SetDefaultTimeout(15_000);
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
        _launch.Dispose();
    }

    /// <summary>
    /// Launches Debian's Chromium as every test here drives it: headless, without a sandbox (these tests run as root),
    /// with app.example.test (pages) and push.example.test (gateway), two origins of one site, on loopback; and trusting
    /// the test certificate whose SPKI hash is <paramref name="trustedCertificateSpki"/>, for a test of its own over HTTPS.
    /// </summary>
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright, string? trustedCertificateSpki = null)
    {
        Tools.Require(ExecutablePath, "chromium");
        List<string> args =
        [
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            // This machine's network is closed: without these, Chromium's own connections pile up refused.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            $"--host-resolver-rules=MAP *.{PageServer.SiteDomain} 127.0.0.1",
        ];
        if (trustedCertificateSpki is not null)
        {
            args.Add($"--ignore-certificate-errors-spki-list={trustedCertificateSpki}");
        }

        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            ChromiumSandbox = false, // --no-sandbox: these tests run as root
            Timeout = 60_000,
            Args = args,
        });
    }

    private async Task<IBrowser> BrowserAsync()
    {
        await _launch.WaitAsync();
        try
        {
            if (_browser is { IsConnected: true })
            {
                return _browser;
            }

            // Expect(...) waits up to this long: generous, for a busy 2-core machine.
            Assertions.SetDefaultExpectTimeout(15_000);
            _playwright ??= await Playwright.CreateAsync();
            _browser = await LaunchAsync(_playwright);
            return _browser;
        }
        finally
        {
            _launch.Release();
        }
    }
}
