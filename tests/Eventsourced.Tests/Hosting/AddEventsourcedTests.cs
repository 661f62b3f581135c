using Eventsourced.Broker;
using Microsoft.AspNetCore.Builder;
using Eventsourced.Configuration;
using Eventsourced.Consuming;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Hosting;

/// <summary><c>AddEventsourced</c> in an application of its own: binding, checking and each service's own section.</summary>
public sealed class AddEventsourcedTests
{
    [Fact]
    public void AddEventsourced_ApplicationSection_BindsEachSectionsOptions()
    {
        using var services = Provider(("Eventsourced:queue:prefetch", "5"), ("Eventsourced:broker:node:0", "amqp://rabbit/"), ("Eventsourced:header:cors:X-App", "1"));

        Assert.Equal(5, services.GetRequiredService<IOptions<QueueOptions>>().Value.Prefetch);
        Assert.Equal(["amqp://rabbit/"], services.GetRequiredService<IOptions<BrokerOptions>>().Value.Node);
        Assert.Equal("1", services.GetRequiredService<IOptions<HeaderOptions>>().Value.Cors["X-App"]);
        Assert.Equal(5, services.GetRequiredService<IOptions<HeaderOptions>>().Value.Cors.Count);
    }

    [Fact]
    public void AddEventsourced_AppsettingsJsonBooleanCredentials_AreAcceptedAndSentInLowerCase()
    {
        // appsettings.json's true reaches the configuration as "True"; browsers take only "true".
        const string json = """{"Eventsourced": {"header": {"cors": {"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": true}}}}""";
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, NoLifetime>();
        services.AddEventsourced(new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build().GetSection("Eventsourced"));
        using var provider = services.BuildServiceProvider();

        var headers = provider.GetRequiredService<IOptions<HeaderOptions>>().Value;

        Assert.Equal("True", headers.Cors["Access-Control-Allow-Credentials"]);
        Assert.Equal("true", new Eventsourced.Sse.SseResponseHeaders(headers).Cors.Single(h => h.Key == "Access-Control-Allow-Credentials").Value.ToString());
        Assert.True(provider.GetRequiredService<OriginPolicy>().AllowsCredentials);
    }

    [Fact]
    public async Task StartAsync_KeysOnlyTheProgramApplies_AreEachLoggedAsNotApplied_OthersNot()
    {
        using var log = new Eventsourced.Testing.Gateways.CollectedLog();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(log));
        services.AddSingleton<IHostApplicationLifetime, NoLifetime>();
        services.AddEventsourced(Section(
            ("Eventsourced:server:address", "127.0.0.1:9999"),
            ("Eventsourced:limits:trusted_proxies:0", "10.0.0.0/8"),
            ("Eventsourced:limits:streams_per_client", "4"),
            ("Eventsourced:queue:prefetch", "5")));
        await using var provider = services.BuildServiceProvider();

        await provider.GetServices<IHostedService>().OfType<EmbeddedSettingsCheck>().Single().StartAsync(CancellationToken.None);

        var lines = log.Entries.Where(e => e.EventId == Eventsourced.Logging.EventIds.SettingNotApplied).Select(e => e.Message).ToArray();
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("server.address is set but does not apply in an application embedding the gateway: ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("limits.trusted_proxies is set but does not apply in an application embedding the gateway: call app.UseForwardedHeaders()", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_KeysOnlyTheProgramApplies_SetInCode_AreLoggedAsNotApplied()
    {
        // Set in code (Configure<ServerOptions>) rather than in the section: as unapplied, and as unsaid, as in the section.
        using var log = new Eventsourced.Testing.Gateways.CollectedLog();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(log));
        services.AddSingleton<IHostApplicationLifetime, NoLifetime>();
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "5")));
        services.Configure<ServerOptions>(s => s.ShutdownTimeoutSeconds = 99);
        services.Configure<QueueOptions>(q => q.Prefetch = 6);
        await using var provider = services.BuildServiceProvider();

        await provider.GetServices<IHostedService>().OfType<EmbeddedSettingsCheck>().Single().StartAsync(CancellationToken.None);

        var line = Assert.Single(log.Entries, e => e.EventId == Eventsourced.Logging.EventIds.SettingNotApplied);
        Assert.StartsWith("server.shutdown_timeout is set but does not apply in an application embedding the gateway: ", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddEventsourced_EmptySection_HasTheDefaults()
    {
        using var services = Provider();

        Assert.Equal(["amqp://guest:guest@localhost:5672/"], services.GetRequiredService<IOptions<BrokerOptions>>().Value.Node);
        Assert.Equal(1800, services.GetRequiredService<IOptions<QueueOptions>>().Value.ExpiresSeconds);
    }

    [Fact]
    public void Options_UnknownKeyAndBadValue_AreAllReportedWithTheirKeys()
    {
        using var services = Provider(("Eventsourced:queue:nope", "1"), ("Eventsourced:queue:prefetch", "0"), ("Eventsourced:queue:expire", "60"));

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<QueueOptions>>().Value);

        Assert.Equal(
            [
                "configuration Eventsourced:queue:nope: queue.nope: unknown key (known: pattern, expires, prefetch, bind, type, busy_grace, adopt_existing, max_message_bytes, max_buffered_bytes)",
                "configuration Eventsourced:queue:prefetch: queue.prefetch: must be from 1 to 65535, got 0",
            ],
            ex.Failures);
    }

    [Fact]
    public async Task StartAsync_InvalidConfiguration_FailsBeforeAnythingStarts()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddEventsourced(Section(("Eventsourced:broker:node:0", "http://nope/")));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("broker.node[0]: invalid broker URL: unsupported scheme 'http'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MapEventsourced_InvalidConfiguration_ThrowsTheProblemsThere_BeforeTheHostStarts()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "0")));
        using var app = builder.Build();

        var ex = Assert.Throws<OptionsValidationException>(() => app.MapEventsourced("/events"));

        Assert.Equal(["configuration Eventsourced:queue:prefetch: queue.prefetch: must be from 1 to 65535, got 0"], ex.Failures);
    }

    [Fact]
    public void ApplicationsConfigureOfASectionsOptions_Applies_OverTheConfiguration_WhereverItIsCalled()
    {
        // Each service takes its own section's options (IOptions<QueueOptions>), so an application configures them in code as
        // ASP.NET Core's options do. Configure<QueueOptions> did nothing, without a word: the sections came from the
        // configuration alone.
        var services = new ServiceCollection();
        services.AddLogging();
        services.PostConfigure<BrokerOptions>(b => b.Node = ["amqp://code/"]);
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "5"), ("Eventsourced:queue:expires", "60"), ("Eventsourced:broker:node:0", "amqp://file/")));
        services.Configure<QueueOptions>(q => q.Prefetch = 7);
        using var provider = services.BuildServiceProvider();

        var queue = provider.GetRequiredService<IOptions<QueueOptions>>().Value;
        Assert.Equal((7, 60), (queue.Prefetch, queue.ExpiresSeconds));
        Assert.Equal(["amqp://code/"], provider.GetRequiredService<IOptions<BrokerOptions>>().Value.Node);
        Assert.Equal(7, provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Queue.Prefetch);
    }

    [Fact]
    public void ApplicationsConfigureOfASectionsOptions_WithABadValue_IsRefusedWithTheKey()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddEventsourced(Section());
        services.Configure<QueueOptions>(q => q.Prefetch = 0);
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<QueueOptions>>().Value);

        Assert.Equal(["options: queue.prefetch: must be from 1 to 65535, got 0"], ex.Failures);
    }

    [Fact]
    public void ABadValueSetInCode_OverAGoodOneOfTheSection_IsNamedAsSetInCode_NotAsTheSections()
    {
        // The section says 5, the code 0: the refusal named the section's key, where the user found 5.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "5"), ("Eventsourced:queue:expires", "-1")));
        services.Configure<QueueOptions>(q => q.Prefetch = 0);
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<QueueOptions>>().Value);

        Assert.Equal(
            [
                "configuration Eventsourced:queue:expires: queue.expires: must be from 0 to 2147483, got -1",
                "options: queue.prefetch: must be from 1 to 65535, got 0",
            ],
            ex.Failures.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AddEventsourced_Twice_RegistersOnce()
    {
        var services = new ServiceCollection();
        services.AddEventsourced(Section());
        var count = services.Count;

        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "9")));

        Assert.Equal(count, services.Count);
    }

    [Fact]
    public async Task StartAsync_AddEventsourcedAgainWithOtherSettings_LogsTheKeysThatDoNotApply_TheSameSettingsNothing()
    {
        // One gateway per application: a second call registered nothing, and its settings (another section, a second broker)
        // were dropped without a word. The keys are named, never their values (a broker URL holds a password).
        using var log = new Eventsourced.Testing.Gateways.CollectedLog();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(log));
        services.AddSingleton<IHostApplicationLifetime, NoLifetime>();
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "5"), ("Eventsourced:broker:node:0", "amqp://a:secret@one/")));
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "5"), ("Eventsourced:broker:node:0", "amqp://a:secret@one/")));
        services.AddEventsourced(Section(("Eventsourced:queue:prefetch", "9"), ("Eventsourced:broker:node:0", "amqp://a:secret@one/"), ("Eventsourced:server:path", "/push")));
        await using var provider = services.BuildServiceProvider();

        await provider.GetServices<IHostedService>().OfType<EmbeddedSettingsCheck>().Single().StartAsync(CancellationToken.None);

        var line = Assert.Single(log.Entries, e => e.EventId == Eventsourced.Logging.EventIds.AddedAgainNotApplied);
        Assert.Equal(
            "AddEventsourced was called again with other settings, which do not apply: an application holds one gateway, with the settings of the first call "
            + "(these keys differ: queue.prefetch, server.path); call AddEventsourced once",
            line.Message);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Equal(5, provider.GetRequiredService<IOptions<QueueOptions>>().Value.Prefetch);
    }

    [Fact]
    public void Services_TakeTheirOwnSectionNeverTheWholeConfiguration()
    {
        var plumbing = new[] { typeof(GatewayOptions).Namespace };
        var offenders = typeof(GatewayOptions).Assembly.GetTypes()
            .Where(t => !plumbing.Contains(t.Namespace))
            .SelectMany(t => t.GetConstructors().SelectMany(c => c.GetParameters()).Select(p => (Type: t, Parameter: p.ParameterType)))
            .Where(p => p.Parameter == typeof(GatewayOptions) || p.Parameter == typeof(IOptions<GatewayOptions>))
            .Select(p => p.Type.FullName)
            .ToArray();

        Assert.Empty(offenders);
    }

    private static ServiceProvider Provider(params (string Key, string Value)[] settings)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IHostApplicationLifetime, NoLifetime>();
        services.AddEventsourced(Section(settings));
        return services.BuildServiceProvider();
    }

    private static IConfigurationSection Section(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)))
            .Build()
            .GetSection("Eventsourced");

    private sealed class NoLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
