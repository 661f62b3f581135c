using System.Globalization;

namespace Eventsourced.Configuration;

/// <summary>Binding of single values and lists.</summary>
internal sealed partial class ConfigBinder
{
    private void BindValue(ConfigKey key, string display, ConfigNode value)
    {
        if (value.IsNull)
        {
            return; // "key:" with nothing after it (or ~, null) leaves the earlier layer's value
        }

        switch (key)
        {
            case ScalarKey scalar when value.Kind == ConfigNodeKind.Scalar:
                if (scalar.Set(options, value.Value!) is { } problem)
                {
                    Report(value.Location, display, problem);
                }

                break;
            case ScalarKey:
                Report(value.Location, display, $"expected a single value, got a {value.Describe()}");
                break;
            case ListKey list:
                BindList(list, display, value);
                break;
            case HeaderMapKey headers:
                BindHeaders(headers, display, value);
                break;
        }
    }

    private void BindList(ListKey key, string display, ConfigNode value)
    {
        var before = problems.Count;
        var items = ListItems(display, value);
        if (items is null)
        {
            return;
        }

        if (items.Count == 0 && problems.Count == before)
        {
            Report(value.Location, display, "must list at least one value");
        }

        foreach (var (index, node, text) in items)
        {
            var problem = node.Kind != ConfigNodeKind.Scalar ? $"expected a single value, got a {node.Describe()}"
                : string.IsNullOrEmpty(text) ? "empty value"
                : key.Check(text);
            if (problem is not null)
            {
                Report(node.Location, $"{display}[{index}]", problem);
            }
        }

        if (problems.Count == before)
        {
            key.Set(options, items.Select(i => i.Text!).ToList());
        }
    }

    /// <summary>A YAML list; in the environment also <c>url1,url2</c> or <c>__0</c>, <c>__1</c>, ... (in index order).</summary>
    private List<(int Index, ConfigNode Node, string? Text)>? ListItems(string display, ConfigNode value)
    {
        if (value.Kind == ConfigNodeKind.Sequence)
        {
            return value.Items.Select((item, i) => (i, item, item.Value)).ToList();
        }

        if (value.Location.IsEnvironment && value.Kind == ConfigNodeKind.Scalar)
        {
            var text = value.Value!;
            return text.Trim().Length == 0 ? [] : text.Split(',').Select((t, i) => (i, value, (string?)t.Trim())).ToList();
        }

        if (!value.Location.IsEnvironment)
        {
            Report(value.Location, display, $"expected a list, got a {value.Describe()}");
            return null;
        }

        var items = new List<(int Index, ConfigNode Node, string? Text)>();
        foreach (var (indexNode, item) in value.Entries)
        {
            if (!int.TryParse(indexNode.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                Report(indexNode.Location, display, $"list index must be a number, got {ConfigText.Quote(indexNode.Value ?? string.Empty)}");
            }
            else if (items.Find(i => i.Index == index) is { Node: { } first })
            {
                Report(indexNode.Location, $"{display}[{index}]", $"also set by {first.Location.Source}; give only one of them");
            }
            else
            {
                items.Add((index, item, item.Value));
            }
        }

        return items.OrderBy(i => i.Index).ToList();
    }
}
