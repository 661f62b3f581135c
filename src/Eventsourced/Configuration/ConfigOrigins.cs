namespace Eventsourced.Configuration;

/// <summary>Where each merged configuration key came from (file and line, variable, key), for problems found after binding.</summary>
internal sealed class ConfigOrigins(IReadOnlyDictionary<string, ConfigLocation> origins, IReadOnlyDictionary<string, string>? labels = null)
{
    public static ConfigOrigins None { get; } = new(new Dictionary<string, ConfigLocation>());

    /// <summary>
    /// How a problem names a list item: its index as the source gave it (<c>EVENTSOURCED_BROKER__NODE__2</c> is
    /// item 2 there, though it is the first of the merged list), else its index in the list.
    /// </summary>
    public string Label(string configurationKey, int index) =>
        labels is not null && labels.TryGetValue(configurationKey, out var label) ? label : index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// These origins less <paramref name="configurationKeys"/>: keys whose values were changed in code after the configuration
    /// was bound are the options' (<see cref="ConfigLocation.Options"/>), not the file's or section's that said otherwise.
    /// </summary>
    public ConfigOrigins Without(IReadOnlySet<string> configurationKeys) =>
        configurationKeys.Count == 0
            ? this
            : new(origins.Where(o => !configurationKeys.Contains(o.Key)).ToDictionary(o => o.Key, o => o.Value, StringComparer.OrdinalIgnoreCase), labels);

    /// <summary>The place of <paramref name="configurationKey"/> (<c>section:key[:index|:name]</c>), or <see cref="ConfigLocation.Options"/> for a value no source set.</summary>
    public ConfigLocation Of(string configurationKey) =>
        origins.TryGetValue(configurationKey, out var where) ? where : ConfigLocation.Options;
}
