using System.Globalization;

namespace Eventsourced.Configuration;

/// <summary>Factories that keep each line of <see cref="ConfigSchema.Keys"/> short.</summary>
internal abstract partial record ConfigKey
{
    /// <summary>A string, checked by <paramref name="check"/> (returns a problem or null).</summary>
    public static ConfigKey Text(string path, Func<GatewayOptions, string> get, Action<GatewayOptions, string> set, Func<string, string?> check) =>
        new ScalarKey(path, (options, text) => Store(check(text), options, text, set), get);

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static ConfigKey Number(string path, Func<GatewayOptions, int> get, Action<GatewayOptions, int> set, int min, int max) =>
        new ScalarKey(
            path,
            (options, text) => Store(ConfigRules.Integer(text, min, max, out var value), options, value, set),
            options => get(options).ToString(CultureInfo.InvariantCulture));

    /// <summary><c>true</c> or <c>false</c> (any case).</summary>
    public static ConfigKey Flag(string path, Func<GatewayOptions, bool> get, Action<GatewayOptions, bool> set) =>
        new ScalarKey(
            path,
            (options, text) => bool.TryParse(text.Trim(), out var value)
                ? Store(null, options, value, set)
                : $"expected true or false, got {ConfigText.Quote(text)}",
            options => get(options) ? "true" : "false");

    /// <summary>One of <paramref name="names"/>, matched ignoring case and stored as listed.</summary>
    public static ConfigKey Choice(string path, Func<GatewayOptions, string> get, Action<GatewayOptions, string> set, params string[] names) =>
        new ScalarKey(
            path,
            (options, text) => names.FirstOrDefault(n => n.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name
                ? Store(null, options, name, set)
                : $"expected one of {string.Join(", ", names)}, got {ConfigText.Quote(text)}",
            get);

    /// <summary>A non-empty list of strings, each checked by <paramref name="check"/>; <paramref name="show"/> prints one.</summary>
    public static ConfigKey List(
        string path, Func<GatewayOptions, List<string>> get, Action<GatewayOptions, List<string>> set, Func<string, string?> check, Func<string, string> show) =>
        new ListKey(path, check, set, options => get(options).Select(show));

    /// <summary>A map of HTTP header names to values.</summary>
    public static ConfigKey Headers(string path, Func<GatewayOptions, Dictionary<string, string>> get) =>
        new HeaderMapKey(path, get);

    private static string? Store<T>(string? problem, GatewayOptions options, T value, Action<GatewayOptions, T> set)
    {
        if (problem is null)
        {
            set(options, value);
        }

        return problem;
    }
}
