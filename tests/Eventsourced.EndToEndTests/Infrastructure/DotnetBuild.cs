namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>Running the .NET SDK from inside a test.</summary>
public static class DotnetBuild
{
    /// <summary>
    /// <c>dotnet test</c> hands its own MSBuild settings to the test host's environment; a <c>dotnet build</c>
    /// or <c>dotnet run</c> started from here must not build with them. <paramref name="extra"/> is added.
    /// </summary>
    public static Dictionary<string, string?> CleanEnvironment(Dictionary<string, string?> extra)
    {
        var environment = new Dictionary<string, string?>(extra);
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
            {
                environment[name] = null;
            }
        }

        return environment;
    }
}
