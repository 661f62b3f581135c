
namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary><c>examples/nginx/eventsourced.conf</c> as shipped, run by <see cref="Nginx"/> in front of gateways of a test.</summary>
public static class ExampleNginx
{
    /// <summary>
    /// nginx with the shipped example, changed only in its addresses (the upstream lists
    /// <paramref name="gatewayPorts"/>; the access log goes to the test's directory, in the example's format), optionally its <c>proxy_read_timeout</c>, and by <paramref name="alter"/>; <paramref name="mainConfiguration"/> goes into nginx.conf outside <c>http {}</c>.
    /// Each replaced text must occur in the example exactly once, so a changed example fails loudly
    /// instead of testing something else.
    /// </summary>
    public static Task<Nginx> StartAsync(IEnumerable<int> gatewayPorts, string? readTimeout = null, Func<string, string>? alter = null, string mainConfiguration = "")
    {
        var port = FreePort.Next();
        // Each gateway with the example's parameters for its server line.
        var upstream = string.Join("\n    ", gatewayPorts.Select(p => $"server 127.0.0.1:{p} max_fails=0;"));
        var site = File.ReadAllText(RepoPaths.Examples("nginx", "eventsourced.conf"))
            .ReplaceOnce("server 127.0.0.1:2069 max_fails=0;", upstream)
            .ReplaceOnce("listen 80;", $"listen 127.0.0.1:{port};")
            .ReplaceOnce("server_name push.example.com;", "server_name _;")
            .ReplaceOnce("access_log /var/log/nginx/access.log eventsourced;", "access_log logs/access.log eventsourced;");
        if (readTimeout is not null)
        {
            site = site.ReplaceOnce("proxy_read_timeout 60s;", $"proxy_read_timeout {readTimeout};");
        }

        return Nginx.StartAsync(alter is null ? site : alter(site), port, mainConfiguration);
    }
}
