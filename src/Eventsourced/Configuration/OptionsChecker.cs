using System.Globalization;
using Eventsourced.Broker;

namespace Eventsourced.Configuration;

/// <summary>
/// Checks bound options against the schema: numbers within their <see cref="System.ComponentModel.DataAnnotations.RangeAttribute"/>,
/// choices among the allowed values, lists not empty and each item (and each map entry) through its rule,
/// then the checks that involve several keys. Bound values, so options set in code are checked as well
/// as configured ones; <see cref="ConfigOrigins"/> names the file and line of each configured one.
/// </summary>
internal static class OptionsChecker
{
    public static List<ConfigProblem> Check(ConfigSchema schema, object root, ConfigOrigins origins, IEnumerable<Func<object, IEnumerable<ConfigProblem>>>? combined = null)
    {
        var problems = new List<ConfigProblem>();
        foreach (var section in schema.AllSections)
        {
            var options = section.Get(root);
            foreach (var key in section.Keys)
            {
                CheckKey(key, key.Get(options), origins, problems);
            }
        }

        foreach (var check in combined ?? [])
        {
            problems.AddRange(check(root));
        }

        return problems;
    }

    /// <summary>
    /// Loaded back from <c>-c</c>, a secret would be the three characters it prints in its place: a metrics token
    /// anyone can guess, or a signing key refused for its length with no hint why.
    /// </summary>
    private static readonly string PrintedSecret = $"'{SecretUrl.Hidden}' is what -c prints in place of a secret: give the secret itself";

    /// <summary>
    /// Whether <paramref name="value"/> is what <c>-c</c> prints for a secret (<see cref="ConfigPrinter.Show"/>): <c>***</c>,
    /// or <c>ALGORITHM:***</c> for an entry; a URL whose password (or, for an HTTP URL, a query value) is <c>***</c>.
    /// A broker URL loaded back from a dump connected with the password <c>***</c> and was refused by the broker for ever.
    /// </summary>
    private static bool LooksPrinted(MaskKind? mask, string value) => mask switch
    {
        MaskKind.Secret => value == SecretUrl.Hidden || value.EndsWith(":" + SecretUrl.Hidden, StringComparison.Ordinal),
        MaskKind.BrokerUrl => BrokerUrl.TryParse(value, out var url) && url.Password == SecretUrl.Hidden,
        MaskKind.Url => SecretUrl.HasHiddenPart(value),
        _ => false,
    };

    /// <summary>
    /// A rule's <paramref name="problem"/> with the secret it quotes taken out: problem lines go to the terminal and the
    /// journal, where a metrics token with a stray carriage return (an env file saved on Windows) was printed whole.
    /// Only the quote is replaced (rules quote a value with <see cref="ConfigText.Quote"/>): replacing the bare value
    /// wherever it occurred put the placeholder in place of a word of the message that the secret equals, which told
    /// the secret (<c>secret: secret</c> gave "an HS256 a secret of 6 characters (not shown) must be at least 32 bytes").
    /// </summary>
    private static string WithoutSecret(string problem, string secret) =>
        problem.Replace(ConfigText.Quote(secret), ConfigText.HiddenSecret(secret), StringComparison.Ordinal);

    private static void CheckKey(SchemaKey key, object? value, ConfigOrigins origins, List<ConfigProblem> problems)
    {
        var where = origins.Of(key.ConfigurationKey);
        if (value is string secret && LooksPrinted(key.Mask, secret))
        {
            problems.Add(new(where, key.Path, PrintedSecret));
            return;
        }

        switch (key.Kind)
        {
            case KeyKind.Number when value is int number && (number < key.Min || number > key.Max):
                problems.Add(new(where, key.Path, $"must be from {key.Min} to {key.Max}, got {number.ToString(CultureInfo.InvariantCulture)}"));
                break;
            case KeyKind.Choice when value is string text && !key.Choices.Contains(text, StringComparer.OrdinalIgnoreCase):
                problems.Add(new(where, key.Path, $"expected one of {string.Join(", ", key.Choices)}, got {ConfigText.Quote(text)}"));
                break;
            case KeyKind.Text when value is string text && key.Rule?.Invoke(text) is { } problem:
                problems.Add(new(where, key.Path, key.Mask == MaskKind.Secret ? WithoutSecret(problem, text) : problem));
                break;
            case KeyKind.List when value is List<string> items:
                if (items.Count == 0 && !key.MayBeEmpty)
                {
                    problems.Add(new(where, key.Path, "must list at least one value"));
                }

                for (var i = 0; i < items.Count; i++)
                {
                    var itemProblem = items[i].Length == 0 ? "empty value"
                        : LooksPrinted(key.Mask, items[i]) ? PrintedSecret
                        : key.Rule?.Invoke(items[i]);
                    if (itemProblem is not null)
                    {
                        var itemKey = $"{key.ConfigurationKey}:{i.ToString(CultureInfo.InvariantCulture)}";
                        problems.Add(new(origins.Of(itemKey), $"{key.Path}[{origins.Label(itemKey, i)}]",
                            key.Mask == MaskKind.Secret ? WithoutSecret(itemProblem, items[i]) : itemProblem));
                    }
                }

                break;
            case KeyKind.Map when value is Dictionary<string, string> map && key.MapRules is { } rules:
                foreach (var (name, text) in map)
                {
                    if ((rules.NameRule(name) ?? rules.ValueRule(text)) is { } entryProblem)
                    {
                        problems.Add(new(origins.Of($"{key.ConfigurationKey}:{name}"), $"{key.Path}.{name}", entryProblem));
                    }
                }

                break;
        }
    }
}
