using System.Collections;

namespace Eventsourced.Configuration;

/// <summary>
/// A <see cref="ConfigProblem"/> as a log entry's state: the JSON console formatter writes each pair into <c>State</c>
/// (<c>File</c> and <c>Line</c>, or <c>Variable</c>, or <c>Source</c>; <c>Key</c> when the problem has one; <c>Problem</c>),
/// and <see cref="ToString"/> is the entry's message, the plain line of the problem.
/// </summary>
internal sealed class ConfigProblemLogState : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly ConfigProblem _problem;
    private readonly KeyValuePair<string, object?>[] _pairs;

    public ConfigProblemLogState(ConfigProblem problem)
    {
        _problem = problem;
        var pairs = new List<KeyValuePair<string, object?>>(4);
        switch (problem.Where.Kind)
        {
            case ConfigSourceKind.File:
                pairs.Add(new("File", problem.Where.Source));
                if (problem.Where.Line > 0)
                {
                    pairs.Add(new("Line", problem.Where.Line));
                }

                break;
            case ConfigSourceKind.Environment:
                pairs.Add(new("Variable", problem.Where.Source));
                break;
            default:
                pairs.Add(new("Source", problem.Where.ToString()));
                break;
        }

        if (problem.Key is not null)
        {
            pairs.Add(new("Key", problem.Key));
        }

        pairs.Add(new("Problem", problem.Message));
        _pairs = [.. pairs];
    }

    public int Count => _pairs.Length;

    public KeyValuePair<string, object?> this[int index] => _pairs[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_pairs).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"invalid configuration: {_problem}";
}
