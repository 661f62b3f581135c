namespace Eventsourced.Configuration;

/// <summary>
/// Builds the effective <see cref="GatewayOptions"/>: defaults, then each optional file that exists, then
/// the required file, then <c>EVENTSOURCED_*</c> variables, later layers overriding earlier ones.
/// Scalars are replaced, lists replaced whole, header maps merged by name (an empty value removes a header).
/// </summary>
public static class ConfigLoader
{
    /// <exception cref="ConfigException">Every problem of every source, one per line.</exception>
    public static LoadedConfig Load(ConfigSources sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var options = new GatewayOptions();
        var problems = new List<ConfigProblem>();
        var binder = new ConfigBinder(options, ConfigSchema.Keys, problems);
        var filesRead = new List<string>();

        foreach (var path in sources.OptionalFiles)
        {
            if (File.Exists(path))
            {
                ReadFile(path, binder, problems, filesRead);
            }
        }

        if (sources.RequiredFile is { } required)
        {
            if (File.Exists(required))
            {
                ReadFile(required, binder, problems, filesRead);
            }
            else
            {
                problems.Add(new(ConfigLocation.InFile(required, 0), null, "file not found"));
            }
        }

        binder.Bind(EnvironmentConfigReader.Read(sources.Environment, problems));
        if (problems.Count == 0)
        {
            problems.AddRange(ConfigSchema.CheckCombinations(options));
        }

        return problems.Count == 0 ? new LoadedConfig(options, filesRead) : throw new ConfigException(problems);
    }

    private static void ReadFile(string path, ConfigBinder binder, List<ConfigProblem> problems, List<string> filesRead)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add(new(ConfigLocation.InFile(path, 0), null, $"cannot read: {ConfigText.OneLine(ex.Message)}"));
            return;
        }

        filesRead.Add(path);
        if (YamlConfigReader.Read(path, text, problems) is { } root)
        {
            binder.Bind(root);
        }
    }
}
