using System.Globalization;
using System.Text.Json;

namespace Eventsourced.IntegrationTests.Observability;

/// <summary>
/// A real Prometheus server as a child process: its own configuration, storage directory and free loopback
/// port, scraping one target. Never the package's own service (if one runs, it is left alone).
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ServiceProcess _process;
    private readonly HttpClient _client;

    private PrometheusServer(ServiceProcess process, string directory, Uri address)
    {
        _process = process;
        Directory = directory;
        Address = address;
        _client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public string Directory { get; }

    public string Output => _process.Output;

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (<c>host:port</c>) at <paramref name="metricsPath"/> every second.</summary>
    public static async Task<PrometheusServer> StartAsync(string target, string metricsPath, string job = "eventsourced")
    {
        var binary = PrometheusTools.Prometheus;
        var directory = Path.Combine(Path.GetTempPath(), "eventsourced-prometheus", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: {job}
                metrics_path: {metricsPath}
                static_configs:
                  - targets: ['{target}']
            """);
        var port = FreePort.Next();
        var process = ServiceProcess.Start(binary,
        [
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ], workingDirectory: directory);
        var server = new PrometheusServer(process, directory, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await Wait.UntilAsync(server.IsReadyAsync, TimeSpan.FromSeconds(60), $"prometheus on 127.0.0.1:{port} ready", TimeSpan.FromMilliseconds(200));
        }
        catch (TimeoutException ex)
        {
            var output = server.Output;
            await server.DisposeAsync();
            throw new InvalidOperationException($"prometheus did not become ready: {ex.Message}\n{output}", ex);
        }

        return server;
    }

    /// <summary>An instant query: the <c>data.result</c> array of the HTTP API's answer.</summary>
    public async Task<JsonElement> QueryAsync(string promql)
    {
        using var response = await _client.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}");
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"query {promql} answered {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("data").GetProperty("result").Clone();
    }

    /// <summary>The single value of an instant query, or null while it has no result.</summary>
    public async Task<double?> QueryValueAsync(string promql)
    {
        var result = await QueryAsync(promql);
        return result.GetArrayLength() == 0
            ? null
            : double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
    }

    /// <summary>The health of the scrape of the only target (<c>up</c>, <c>lastError</c>) from the targets API.</summary>
    public async Task<string> TargetsAsync() => await _client.GetStringAsync("/api/v1/targets");

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
        {
            await _process.KillAsync();
        }

        await _process.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open; the temp directory is cleaned eventually.
        }
    }

    private async Task<bool> IsReadyAsync()
    {
        if (_process.HasExited)
        {
            throw new InvalidOperationException($"prometheus exited with {_process.ExitCode}:\n{Output}");
        }

        try
        {
            using var response = await _client.GetAsync("/-/ready");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
