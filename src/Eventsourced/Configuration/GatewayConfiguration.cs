using Microsoft.Extensions.Options;

namespace Eventsourced.Configuration;

/// <summary>
/// The gateway's configuration inside a host: read once, when the options are first needed, from the
/// <see cref="Microsoft.Extensions.Configuration.IConfiguration"/> given to <c>AddEventsourced</c> (or taken
/// as loaded by the executable), and turned into <see cref="GatewayOptions"/>, which every section's
/// options come from.
/// </summary>
internal sealed class GatewayConfiguration(Func<LoadedConfig> read)
{
    private readonly Lazy<LoadedConfig> _loaded = new(read);

    public LoadedConfig Loaded => _loaded.Value;
}

/// <summary>Binds <see cref="GatewayOptions"/> from the configuration, as the loader does.</summary>
internal sealed class GatewayOptionsSetup(GatewayConfiguration configuration) : IConfigureOptions<GatewayOptions>
{
    public void Configure(GatewayOptions options) =>
        OptionsBinder.Bind(configuration.Loaded.Configuration, ConfigSchema.Gateway, options);
}

/// <summary>
/// Fails the start (with <c>ValidateOnStart</c>) on every problem of the configuration's sources (unknown
/// keys, wrong shapes) and of the final options, also those changed in code after binding.
/// </summary>
internal sealed class GatewayOptionsValidator(GatewayConfiguration configuration) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var loaded = configuration.Loaded;
        var origins = loaded.Origins.Without(ChangedInCode(loaded, options));
        var problems = loaded.SourceProblems.Concat(ConfigLoader.Check(options, origins)).Select(p => p.ToString()).ToArray();
        return problems.Length == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    /// <summary>
    /// The keys whose values the application changed in code (<c>Configure&lt;QueueOptions&gt;</c>, ...) after the binding:
    /// a bad value there was reported at the file's or section's key, which held a good one.
    /// </summary>
    internal static HashSet<string> ChangedInCode(LoadedConfig loaded, GatewayOptions options)
    {
        var bound = new GatewayOptions();
        OptionsBinder.Bind(loaded.Configuration, ConfigSchema.Gateway, bound);
        var configured = ConfigFlattener.ToKeys(bound).ToHashSet();
        var final = ConfigFlattener.ToKeys(options).ToHashSet();
        configured.SymmetricExceptWith(final);
        return configured.Select(k => k.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
    }
}
