using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>
/// Binds merged configuration (<see cref="ConfigMerger"/>) to the options of every section with the standard
/// binder. Lists and maps are set here instead: the standard binder appends to a list that has a default
/// (<c>broker.node</c>), where a configured list replaces it, and keeps a map key's first spelling.
/// </summary>
internal static class OptionsBinder
{
    public static void Bind(IConfiguration configuration, ConfigSchema schema, object root)
    {
        // Subsections come after their section, so their lists and maps are set after the section's Bind.
        foreach (var section in schema.AllSections)
        {
            var sectionConfiguration = configuration.GetSection(section.ConfigurationPath);
            var target = section.Get(root);
            var defaults = Activator.CreateInstance(section.OptionsType)!;
            sectionConfiguration.Bind(target);
            foreach (var key in section.Keys)
            {
                var keyConfiguration = sectionConfiguration.GetSection(key.Name);
                if (key.Kind == KeyKind.List)
                {
                    BindList(keyConfiguration, key, target, defaults);
                }
                else if (key.Kind == KeyKind.Map)
                {
                    BindMap(keyConfiguration, key, target, defaults);
                }
            }
        }
    }

    private static void BindList(IConfigurationSection configuration, SchemaKey key, object target, object defaults)
    {
        var items = configuration.GetChildren().Select(c => c.Value ?? string.Empty).ToList();
        if (items.Count > 0 || configuration.Value is not null)
        {
            key.Set(target, items); // configured: replaces the list, also with none (an empty value)
        }
        else
        {
            key.Set(target, new List<string>((List<string>)key.Get(defaults)!));
        }
    }

    /// <summary>
    /// The defaults, then each configured entry: in place when it exists, else appended; empty removes. An entry is
    /// named as configured, or as the schema names it where its names are a fixed set (<see cref="IMapRuleSource.Names"/>).
    /// </summary>
    private static void BindMap(IConfigurationSection configuration, SchemaKey key, object target, object defaults)
    {
        var entries = ((Dictionary<string, string>)key.Get(defaults)!).ToList();
        var names = key.MapRules?.Names ?? [];
        foreach (var entry in configuration.GetChildren())
        {
            var value = entry.Value ?? string.Empty;
            var name = Array.Find(names, n => string.Equals(n, entry.Key, StringComparison.OrdinalIgnoreCase)) ?? entry.Key;
            var index = entries.FindIndex(e => string.Equals(e.Key, name, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
            {
                entries[index] = new(name, value);
            }
            else
            {
                entries.Add(new(name, value));
            }
        }

        key.Set(target, new Dictionary<string, string>(entries.Where(e => e.Value.Length > 0), StringComparer.OrdinalIgnoreCase));
    }
}
