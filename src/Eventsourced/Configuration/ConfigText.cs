using System.Globalization;
using System.Text;

namespace Eventsourced.Configuration;

/// <summary>Text helpers for problem messages, which must stay on one line.</summary>
internal static class ConfigText
{
    private const int MaxQuoted = 60;

    /// <summary><paramref name="value"/> in single quotes, control characters escaped, long values cut.</summary>
    public static string Quote(string value)
    {
        var builder = new StringBuilder("'");
        foreach (var c in value.Length > MaxQuoted ? value[..MaxQuoted] : value)
        {
            builder.Append(c switch
            {
                '\r' => @"\r",
                '\n' => @"\n",
                '\t' => @"\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }

        return builder.Append(value.Length > MaxQuoted ? "...'" : "'").ToString();
    }

    /// <summary>What a problem says in place of a secret's value: its length only.</summary>
    public static string HiddenSecret(string secret) =>
        $"a secret of {secret.Length.ToString(CultureInfo.InvariantCulture)} characters (not shown)";

    /// <summary>Joins the lines of a foreign message (YamlDotNet's) into one.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
