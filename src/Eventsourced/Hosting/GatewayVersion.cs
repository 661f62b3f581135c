using System.Reflection;

namespace Eventsourced.Hosting;

/// <summary>The release version, from the repository's VERSION file (stamped into the assembly at build).</summary>
public static class GatewayVersion
{
    public static string Current { get; } = Read();

    private static string Read()
    {
        var informational = typeof(GatewayVersion).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? informational : informational[..plus];
    }
}
