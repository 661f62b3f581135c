using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Configuration;

/// <summary>
/// Options set in code, as the configuration keys that would set them (<c>queue:prefetch</c>, <c>broker:node:0</c>,
/// an empty value for a removed default header), so that a gateway configured in code goes through the same
/// binding and checks as one configured by files and variables.
/// </summary>
public static class ConfigFlattener
{
    public static IConfiguration ToConfiguration(GatewayOptions options) =>
        new ConfigurationBuilder().AddInMemoryCollection(ToKeys(options)).Build();

    public static IEnumerable<KeyValuePair<string, string?>> ToKeys(GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var defaults = new GatewayOptions();
        foreach (var section in ConfigSchema.Gateway.AllSections)
        {
            foreach (var key in section.Keys)
            {
                var value = key.Get(section.Get(options));
                switch (value)
                {
                    case List<string> items:
                        if (items.Count == 0)
                        {
                            yield return new(key.ConfigurationKey, string.Empty);
                        }

                        for (var i = 0; i < items.Count; i++)
                        {
                            yield return new($"{key.ConfigurationKey}:{i.ToString(CultureInfo.InvariantCulture)}", items[i]);
                        }

                        break;
                    case Dictionary<string, string> map:
                        var defaultMap = (Dictionary<string, string>)key.Get(section.Get(defaults))!;
                        foreach (var name in defaultMap.Keys.Where(name => !map.ContainsKey(name)))
                        {
                            yield return new($"{key.ConfigurationKey}:{name}", string.Empty);
                        }

                        foreach (var (name, text) in map)
                        {
                            yield return new($"{key.ConfigurationKey}:{name}", text);
                        }

                        break;
                    case bool flag:
                        yield return new(key.ConfigurationKey, flag ? "true" : "false");
                        break;
                    default:
                        yield return new(key.ConfigurationKey, Convert.ToString(value, CultureInfo.InvariantCulture));
                        break;
                }
            }
        }
    }
}
