namespace Eventsourced.Configuration;

/// <summary>One configuration problem; <see cref="ToString"/> is its line in <see cref="ConfigException.Message"/>.</summary>
internal sealed record ConfigProblem(ConfigLocation Where, string? Key, string Message)
{
    public override string ToString() => Key is null ? $"{Where}: {Message}" : $"{Where}: {Key}: {Message}";
}
