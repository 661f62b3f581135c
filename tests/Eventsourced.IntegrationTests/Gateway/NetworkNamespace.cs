namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// A test host of our own: a network namespace joined to this one by a veth pair with link-local
/// addresses. Taking the link down makes the host vanish the way a phone that lost its network does:
/// no FIN, no RST, packets simply go nowhere. Needs root and iproute2.
/// </summary>
public sealed class NetworkNamespace : IAsyncDisposable
{
    private static int s_next;

    private NetworkNamespace(string name, string hostLink, string hostAddress, string peerAddress)
    {
        Name = name;
        HostLink = hostLink;
        HostAddress = hostAddress;
        PeerAddress = peerAddress;
    }

    public string Name { get; }

    public string HostLink { get; }

    /// <summary>This side's address, reachable from inside the namespace.</summary>
    public string HostAddress { get; }

    public string PeerAddress { get; }

    public static async Task<NetworkNamespace> CreateAsync()
    {
        var n = (Environment.ProcessId % 200) + Interlocked.Increment(ref s_next);
        var name = $"es-test-{Environment.ProcessId}-{n}";
        var hostLink = $"esh{Environment.ProcessId % 10000}x{n}";
        var peerLink = $"esp{Environment.ProcessId % 10000}x{n}";
        var subnet = 4 * (n % 60);
        var hostAddress = $"169.254.{100 + (n / 60 % 100)}.{subnet + 1}";
        var peerAddress = $"169.254.{100 + (n / 60 % 100)}.{subnet + 2}";
        var ns = new NetworkNamespace(name, hostLink, hostAddress, peerAddress);
        try
        {
            await RunAsync("ip", "netns", "add", name);
            await RunAsync("ip", "link", "add", hostLink, "type", "veth", "peer", "name", peerLink);
            await RunAsync("ip", "link", "set", peerLink, "netns", name);
            await RunAsync("ip", "addr", "add", $"{hostAddress}/30", "dev", hostLink);
            await RunAsync("ip", "link", "set", hostLink, "up");
            await RunAsync("ip", "netns", "exec", name, "ip", "addr", "add", $"{peerAddress}/30", "dev", peerLink);
            await RunAsync("ip", "netns", "exec", name, "ip", "link", "set", peerLink, "up");
            await RunAsync("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
            return ns;
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a program inside the namespace (<c>ip netns exec</c> becomes the program: the process is the program's).</summary>
    public ServiceProcess Start(string program, params string[] args) => ServiceProcess.Start("ip", ["netns", "exec", Name, program, .. args]);

    /// <summary>Cuts the link: the peer disappears without a word.</summary>
    public Task CutAsync() => RunAsync("ip", "link", "set", HostLink, "down");

    public async ValueTask DisposeAsync()
    {
        await RunAsync(allowFailure: true, "ip", "link", "del", HostLink);
        await RunAsync(allowFailure: true, "ip", "netns", "del", Name);
    }

    private static Task RunAsync(params string[] command) => RunAsync(allowFailure: false, command);

    private static async Task RunAsync(bool allowFailure, params string[] command)
    {
        var result = await ProcessRunner.RunAsync(command[0], command.Skip(1), TimeSpan.FromSeconds(30));
        if (!result.Succeeded && !allowFailure)
        {
            throw new InvalidOperationException($"`{result.Command}` failed ({result.ExitCode}): {result.StandardError.Trim()} (these tests need root and iproute2)");
        }
    }
}
