using System.Text.RegularExpressions;
using Eventsourced.Configuration;

namespace Eventsourced.Tests.Configuration;

public sealed class ConfigPrinterTests
{
    [Fact]
    public void ToYaml_Defaults_PrintsEveryKeyInTheOriginalsLayout()
    {
        var yaml = ConfigPrinter.ToYaml(new GatewayOptions());

        Assert.StartsWith("server:\n  address: 0.0.0.0:2069\n  path: /\n", yaml, StringComparison.Ordinal);
        Assert.Equal(ConfigSchema.Gateway.Keys.Select(k => k.Path), ConfigTreeKeys.Of(yaml, "printed"));
        Assert.Contains("\n    Access-Control-Allow-Origin: '*'\n", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void ToYaml_BrokerPasswords_AreMasked()
    {
        var options = new GatewayOptions();
        options.Broker.Node = ["amqp://user:TopSecret1@h1:5672/", "amqps://h2/"];

        var yaml = ConfigPrinter.ToYaml(options);

        Assert.DoesNotContain("TopSecret1", yaml, StringComparison.Ordinal);
        Assert.Contains("\n    - amqp://user:***@h1:5672/\n", yaml, StringComparison.Ordinal);
        Assert.Contains("- amqps://h2/\n", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void ToYaml_JwksUrlCredentials_AreMasked()
    {
        var options = new GatewayOptions();
        options.Auth.Jwt.JwksUrl = "https://keys:TopSecret1@idp.example/jwks?api_key=TopSecret2";

        var yaml = ConfigPrinter.ToYaml(options);

        Assert.DoesNotContain("TopSecret", yaml, StringComparison.Ordinal);
        Assert.Contains("jwks_url: https://keys:***@idp.example/jwks?api_key=***\n", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void ToYaml_UnparsableBrokerUrl_IsNotPrinted()
    {
        var options = new GatewayOptions();
        options.Broker.Node = ["http://user:TopSecret1@h1/"];

        Assert.DoesNotContain("TopSecret1", ConfigPrinter.ToYaml(options), StringComparison.Ordinal);
    }

    [Fact]
    public void ToYaml_LoadedAgain_GivesTheSameOptions()
    {
        var options = Unusual();

        var loaded = ConfigTesting.Load(ConfigPrinter.ToYaml(options));

        Assert.Equal(["amqp://a@h1:5672/v%2Fh", "amqps://h2/v%2Fh"], loaded.Broker.Node);
        Assert.Equal(ConfigPrinter.ToYaml(SortHeaders(options)), ConfigPrinter.ToYaml(SortHeaders(loaded)));
        Assert.Equal(options.Header.Cors.OrderBy(h => h.Key, StringComparer.Ordinal), loaded.Header.Cors.OrderBy(h => h.Key, StringComparer.Ordinal));
        Assert.Empty(loaded.Header.Sse);
        Assert.Equal(("[::1]:8080", "q-${query:id}-$x", 0, "json"), (loaded.Server.Address, loaded.Queue.Pattern, loaded.Queue.ExpiresSeconds, loaded.Log.Format));
    }

    [Fact]
    public void ToYaml_OfPasswordsInUrls_LoadedAgain_IsAnErrorThatSaysSo()
    {
        // Loaded as they were, the gateway connected with the password '***' and the broker refused it for ever.
        var options = new GatewayOptions();
        options.Broker.Node = ["amqp://a@h1/", "amqp://a:pw@h2/"];
        options.Auth.Jwt.JwksUrl = "https://idp.example/jwks?api_key=TopSecret2";
        const string Printed = "'***' is what -c prints in place of a secret: give the secret itself";

        var problems = ConfigTesting.Problems(ConfigPrinter.ToYaml(options));

        Assert.Equal(2, problems.Length);
        Assert.Matches(@"^FILE:\d+: broker\.node\[1\]: " + Regex.Escape(Printed) + "$", problems[0]);
        Assert.Matches(@"^FILE:\d+: auth\.jwt\.jwks_url: " + Regex.Escape(Printed) + "$", problems[1]);
    }

    [Theory]
    [InlineData("amqp://user:%2A%2A%2A@h/")]
    [InlineData("amqps://user:***@h:5671/v")]
    public void Load_BrokerUrlWithThePrintedPassword_IsRefused(string url) =>
        Assert.Equal(["FILE:2: broker.node[0]: '***' is what -c prints in place of a secret: give the secret itself"],
            ConfigTesting.Problems($"broker:\n  node: ['{url}']\n"));

    [Theory]
    [InlineData("amqp://user:***x@h/")]
    [InlineData("amqp://***@h/")]
    public void Load_BrokerUrlWithStarsThatAreNotThePrintedPassword_IsTaken(string url) =>
        Assert.Equal([url], ConfigTesting.Load($"broker:\n  node: ['{url}']\n").Broker.Node);

    [Fact]
    public void ToYaml_RemovedDefaultHeader_IsPrintedEmpty()
    {
        var options = new GatewayOptions();
        options.Header.Cors.Remove("Access-Control-Allow-Methods");
        options.Header.Sse.Clear();

        var yaml = ConfigPrinter.ToYaml(options);

        Assert.Contains("\n    Access-Control-Allow-Methods: ''\n", yaml, StringComparison.Ordinal);
        Assert.Contains("\n    X-Accel-Buffering: ''\n", yaml, StringComparison.Ordinal);
    }

    /// <summary>Merging over the defaults may order headers differently; the order carries no meaning.</summary>
    private static GatewayOptions SortHeaders(GatewayOptions options)
    {
        options.Header.Cors = new(options.Header.Cors.OrderBy(h => h.Key, StringComparer.Ordinal), StringComparer.OrdinalIgnoreCase);
        options.Header.Sse = new(options.Header.Sse.OrderBy(h => h.Key, StringComparer.Ordinal), StringComparer.OrdinalIgnoreCase);
        return options;
    }

    private static GatewayOptions Unusual()
    {
        var options = new GatewayOptions();
        options.Server.Address = "[::1]:8080";
        options.Server.Path = "/events/";
        options.Server.HeartbeatSeconds = 0;
        options.Broker.Node = ["amqp://a@h1:5672/v%2Fh", "amqps://h2/v%2Fh"];
        options.Broker.ReconnectMaxSeconds = 1;
        options.Queue.Pattern = "q-${query:id}-$x";
        options.Queue.ExpiresSeconds = 0;
        options.Queue.Prefetch = 65535;
        options.Header.Cors.Remove("Access-Control-Allow-Methods");
        foreach (var (name, value) in new[]
        {
            ("X-Hash", "#not a comment"), ("X-Colon", "a: b"), ("X-Quote", "'q' \"q\""), ("X-Null", "null"), ("X-Tilde", "~"),
            ("X-Bool", "no"), ("X-Dash", "- dash"), ("X-Brace", "{x}"), ("X-Percent", "%x"), ("X-At", "@x"), ("X-Tab", "a\tb"),
            ("X-Number", "012"),
        })
        {
            options.Header.Cors[name] = value;
        }

        options.Header.Sse.Clear();
        options.Log.Level = "trace";
        options.Log.Format = "json";
        return options;
    }
}
