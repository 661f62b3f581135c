namespace Eventsourced.Configuration;

/// <summary>
/// One key of the schema, <c>section.name</c>, with how to read it from and write it into
/// <see cref="GatewayOptions"/>. <see cref="ConfigSchema.Keys"/> lists them; the factories are in
/// <c>ConfigKey.Factories.cs</c>.
/// </summary>
internal abstract partial record ConfigKey(string Path)
{
    public string Section => Path[..Path.IndexOf('.', StringComparison.Ordinal)];

    public string Name => Path[(Path.IndexOf('.', StringComparison.Ordinal) + 1)..];

    /// <summary>Other accepted names in the same section (<c>queue.expire</c>); giving two spellings in one source is an error.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];
}
