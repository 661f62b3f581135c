namespace Eventsourced.Configuration;

/// <summary>Binding of header maps: merged by name ignoring case; an empty or null value removes a header.</summary>
internal sealed partial class ConfigBinder
{
    private void BindHeaders(HeaderMapKey key, string display, ConfigNode value)
    {
        if (value.Kind != ConfigNodeKind.Mapping)
        {
            Report(value.Location, display, $"expected a mapping of header names to values, got a {value.Describe()}");
            return;
        }

        var headers = key.Map(options);
        var seen = new Dictionary<string, ConfigLocation>(StringComparer.OrdinalIgnoreCase);
        foreach (var (nameNode, valueNode) in value.Entries)
        {
            if (!TryName(nameNode, display, out var name))
            {
                continue;
            }

            var where = $"{display}.{name}";
            var problem = ConfigRules.HeaderName(name)
                ?? (seen.TryGetValue(name, out var first) ? $"duplicate header (first at {first.Reference})" : null);
            if (problem is not null)
            {
                Report(nameNode.Location, where, problem);
                continue;
            }

            seen.Add(name, nameNode.Location);
            var text = valueNode.Value?.Trim();
            if (valueNode.Kind != ConfigNodeKind.Scalar)
            {
                Report(valueNode.Location, where, $"expected a single value, got a {valueNode.Describe()}");
            }
            else if (ConfigRules.HeaderValue(text ?? string.Empty) is { } bad)
            {
                Report(valueNode.Location, where, bad);
            }
            else if (string.IsNullOrEmpty(text))
            {
                headers.Remove(name);
            }
            else
            {
                // A header keeps its place; given in another case, it takes the later source's spelling.
                if (headers.Keys.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } old && old != name)
                {
                    headers.Remove(old);
                }

                headers[name] = text;
            }
        }
    }
}
