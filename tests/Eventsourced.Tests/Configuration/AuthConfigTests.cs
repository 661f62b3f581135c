using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Tests.Configuration;

/// <summary>The <c>auth</c> section: a nested subsection (<c>auth.jwt</c>), its environment variables, masking and checks.</summary>
public sealed class AuthConfigTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef-secret";

    [Fact]
    public void Load_SecretVariable_SetsAuthJwtSecret()
    {
        var options = ConfigTesting.LoadEnvironment(("EVENTSOURCED_AUTH__JWT__SECRET", Secret));

        Assert.Equal(Secret, options.Auth.Jwt.Secret);
        Assert.True(options.Auth.Jwt.HasKeys);
    }

    [Fact]
    public void Load_NestedSectionFromFile_BindsEveryKind()
    {
        var options = ConfigTesting.Load("""
            auth:
              from_query: false
              from_cookie: token
              read_claims:
                queue: rooms
              jwt:
                secret: 0123456789abcdef0123456789abcdef-secret
                issuer: [https://login.example]
                audience: [push]
                clock_skew: 5
            """);

        Assert.False(options.Auth.FromQuery);
        Assert.Equal("token", options.Auth.FromCookie);
        Assert.Equal("rooms", options.Auth.ReadClaims["queue"]);
        Assert.Equal(["https://login.example"], options.Auth.Jwt.Issuers);
        Assert.Equal(["push"], options.Auth.Jwt.Audiences);
        Assert.Equal(5, options.Auth.Jwt.ClockSkewSeconds);
    }

    [Fact]
    public void Defaults_AreUnauthenticatedWithHeaderAndQuerySources()
    {
        var options = new GatewayOptions();

        Assert.False(options.Auth.Jwt.HasKeys);
        Assert.True(options.Auth.FromHeader);
        Assert.True(options.Auth.FromQuery);
        Assert.Equal(string.Empty, options.Auth.FromCookie);
    }

    [Fact]
    public void ToYaml_Secrets_AreMasked()
    {
        var options = new GatewayOptions();
        options.Auth.Jwt.Secret = Secret;
        options.Auth.Jwt.Secrets = ["HS512:" + new string('s', 64)];

        var yaml = ConfigPrinter.ToYaml(options);

        Assert.DoesNotContain(Secret, yaml, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('s', 64), yaml, StringComparison.Ordinal);
        // An entry keeps its algorithm, so that a reader of the dump can tell the secrets apart.
        Assert.Contains("\n  jwt:\n    secret: '***'\n    secrets:\n      - HS512:***\n", yaml, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("auth:\n  jwt:\n    secret: '***'\n", "FILE:3: auth.jwt.secret")]
    [InlineData("auth:\n  jwt:\n    secrets: ['HS384:***']\n", "FILE:3: auth.jwt.secrets[0]")]
    [InlineData("metrics:\n  token: '***'\n", "FILE:2: metrics.token")]
    public void Load_TheDumpsPlaceholderForASecret_IsAnErrorThatSaysSo(string yaml, string where) =>
        // Loaded as it is, a metrics token would be three characters anyone can guess.
        Assert.Equal([$"{where}: '***' is what -c prints in place of a secret: give the secret itself"], ConfigTesting.Problems(yaml));

    /// <summary>
    /// An unset variable passed on as empty (Compose's <c>${JWT_SECRET}</c> with nothing behind it) cleared the file's
    /// secret, and the gateway started without tokens, open to everyone: refused, naming the variable, the file and line.
    /// </summary>
    [Theory]
    [InlineData("auth:\n  jwt:\n    secret: 0123456789abcdef0123456789abcdef-secret\n", "EVENTSOURCED_AUTH__JWT__SECRET", "auth.jwt.secret", "FILE:3")]
    [InlineData("auth:\n  jwt:\n    secrets: ['HS256:0123456789abcdef0123456789abcdef-secret']\n", "EVENTSOURCED_AUTH__JWT__SECRETS", "auth.jwt.secrets", "FILE:3")]
    [InlineData("metrics:\n  token: a-metrics-token-of-some-length\n", "EVENTSOURCED_METRICS__TOKEN", "metrics.token", "FILE:2")]
    public void Load_EmptyVariableOverASecretOfTheFile_IsAnErrorNamingBoth(string yaml, string variable, string key, string where)
    {
        var problem = Assert.Single(ConfigTesting.Problems(yaml, ConfigTesting.Env((variable, ""))));

        Assert.StartsWith($"environment {variable}: {key}: is empty, which would clear the secret given at {where} ", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789abcdef", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_EmptyVariableForASecretNoFileGives_LeavesItEmpty()
    {
        var options = ConfigTesting.Load("queue:\n  expires: 60\n", ConfigTesting.Env(("EVENTSOURCED_AUTH__JWT__SECRET", "")));

        Assert.Equal(string.Empty, options.Auth.Jwt.Secret);
    }

    [Fact]
    public void Load_EmptyVariableOverAnOrdinaryKeyOfTheFile_StillClearsIt()
    {
        var options = ConfigTesting.Load("auth:\n  from_cookie: token\n", ConfigTesting.Env(("EVENTSOURCED_AUTH__FROM_COOKIE", "")));

        Assert.Equal(string.Empty, options.Auth.FromCookie);
    }

    [Fact]
    public void Load_UnknownKeyInSubsection_NamesTheNestedPath() =>
        Assert.Equal(["FILE:3: auth.jwt.secrte: unknown key (known: secret, secrets, secret_files, public_keys, jwks_url, jwks_refresh, jwks_cooldown, issuer, audience, clock_skew)"],
            ConfigTesting.Problems("auth:\n  jwt:\n    secrte: x\n"));

    [Fact]
    public void Load_ShortSecret_IsAnErrorThatDoesNotShowIt() =>
        Assert.Equal(["FILE:3: auth.jwt.secret: an HS256 secret must be at least 32 bytes, got 11"],
            ConfigTesting.Problems("auth:\n  jwt:\n    secret: short-value\n"));

    [Theory]
    [InlineData("HS384:" + "0123456789", "an HS384 secret must be at least 48 bytes, got 10")]
    [InlineData("RS256:0123456789abcdef0123456789abcdef0123456789abcdef", "expected ALGORITHM:SECRET with HS256, HS384 or HS512 (the value is not shown)")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef", "expected ALGORITHM:SECRET with HS256, HS384 or HS512 (the value is not shown)")]
    public void Load_BadSecretsEntry_IsAnErrorThatDoesNotShowIt(string entry, string problem)
    {
        var lines = ConfigTesting.Problems($"auth:\n  jwt:\n    secrets:\n      - '{entry}'\n");

        Assert.Equal([$"FILE:4: auth.jwt.secrets[0]: {problem}"], lines);
        Assert.DoesNotContain("0123456789", string.Join('\n', lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingSecretFile_NamesIt() =>
        Assert.StartsWith("FILE:3: auth.jwt.secret_files[0]: cannot read '/nonexistent/jwt-secret'",
            ConfigTesting.Problems("auth:\n  jwt:\n    secret_files: ['HS256:/nonexistent/jwt-secret']\n").Single(), StringComparison.Ordinal);

    [Theory]
    [InlineData("http://idp.example/jwks", "must be https:// (http:// only for a loopback host), got 'http://idp.example/jwks'")]
    [InlineData("idp.example/jwks", "must be an absolute https:// URL, got '***'")]
    [InlineData("http://idp.example/jwks?api_key=S3cret", "must be https:// (http:// only for a loopback host), got 'http://idp.example/jwks?api_key=***'")]
    public void Load_BadJwksUrl_IsAnError(string url, string problem) =>
        Assert.Equal([$"FILE:3: auth.jwt.jwks_url: {problem}"], ConfigTesting.Problems($"auth:\n  jwt:\n    jwks_url: {url}\n"));

    [Theory]
    [InlineData("https://keys:s3cret-pass@idp.example/jwks")]
    [InlineData("http://keys:s3cret-pass@127.0.0.1:8080/jwks")]
    [InlineData("http://keys:s3cret-pass@idp.example/jwks")] // not loopback either: still no password in the message
    [InlineData("https://s3cret-pass@idp.example/jwks")]
    public void Load_JwksUrlWithUserInfo_IsAnError_ThatDoesNotRepeatIt(string url)
    {
        // HttpClient sends no credentials from a URL's user-info: they never authenticated the fetch, but -c printed
        // them and the log repeated them with every fetch.
        var lines = ConfigTesting.Problems($"auth:\n  jwt:\n    jwks_url: {url}\n");

        Assert.Equal(["FILE:3: auth.jwt.jwks_url: must not contain a user name or password (they would not be sent, and the URL is logged)"], lines);
        Assert.DoesNotContain("s3cret-pass", string.Join('\n', lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ClaimPatternWithoutKeys_IsAnError() =>
        Assert.Equal(["FILE:2: queue.pattern: ${claim:...} needs verified tokens: configure a key in auth.jwt (secret, secrets, secret_files, public_keys or jwks_url), or auth.application_user in an application of your own"],
            ConfigTesting.Problems("queue:\n  pattern: user-${claim:sub}\n"));

    /// <summary>
    /// A placeholder reading the cookie the token comes in (<c>auth.from_cookie</c>) puts the token into queue names, bindings
    /// or routing keys, and so into the broker's lists, the log and every reader of the exchange: a configuration error, as
    /// <c>${query:access_token}</c> is. Only <c>${query:access_token}</c> was refused (attacker round 39); the cookie started.
    /// </summary>
    [Fact]
    public void Load_PlaceholdersReadingTheTokensCookie_AreErrors() =>
        Assert.Equal(
            [
                "FILE:2: queue.pattern: '${cookie:tok}' reads the subscriber's token (auth.from_cookie): names built from it would carry tokens into the broker and the log; build them from its claims (${claim:sub})",
                "FILE:5: queue.bind[1]: '${cookie:tok}' reads the subscriber's token (auth.from_cookie): names built from it would carry tokens into the broker and the log; build them from its claims (${claim:sub})",
                "FILE:8: ws.publish_routing_key: '${cookie:tok}' reads the subscriber's token (auth.from_cookie): routing keys built from it would carry tokens to everyone who reads the exchange; build them from its claims (${claim:sub})",
            ],
            ConfigTesting.Problems($$"""
                queue:
                  pattern: inbox.${cookie:tok}
                  bind:
                    - broadcast:fanout
                    - users:topic:user.${cookie:tok}
                ws:
                  publish: true
                  publish_routing_key: chat.${cookie:tok}.${to}
                auth:
                  from_cookie: tok
                  jwt:
                    secret: {{Secret}}
                """));

    [Fact]
    public void Load_PlaceholdersReadingAnotherCookie_AreFine() =>
        Assert.Equal("chat.${cookie:Tok}.${to}", ConfigTesting.Load($$"""
            queue:
              pattern: inbox.${cookie:sid}
              bind:
                - users:topic:user.${cookie:sid}
            ws:
              publish: true
              publish_routing_key: chat.${cookie:Tok}.${to}
            auth:
              from_cookie: tok
              jwt:
                secret: {{Secret}}
            """).Ws.PublishRoutingKey);

    [Fact]
    public void Load_ApplicationUser_InTheGatewaysOwnProgram_IsAnError() =>
        Assert.Equal(["FILE:2: auth.application_user: only an application embedding the gateway (AddEventsourced) signs users in; the gateway's own program verifies tokens: configure a key in auth.jwt instead"],
            ConfigTesting.Problems("auth:\n  application_user: true\n"));

    [Fact]
    public void Read_ApplicationUserInAnApplication_TakesClaimsInThePattern_AndExcludesKeys()
    {
        static string[] Problems(params (string Key, string Value)[] settings) =>
            [.. ConfigLoader.Read(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build())
                .Problems.Select(p => p.Message)];

        Assert.Empty(Problems(("auth:application_user", "true"), ("queue:pattern", "user-${claim:sub}")));
        Assert.Equal(
            ["the application's signed-in user and tokens (a key in auth.jwt) exclude each other: keep one"],
            Problems(("auth:application_user", "true"), ("auth:jwt:secret", Secret)));
    }

    [Fact]
    public void Load_KeysWithoutAnyTokenSource_IsAnError() =>
        Assert.Equal(["FILE:2: auth.from_header: tokens are required (auth.jwt has a key) but read from nowhere: keep auth.from_header or auth.from_query on, or name a cookie in auth.from_cookie"],
            ConfigTesting.Problems($"auth:\n  from_header: false\n  from_query: false\n  jwt:\n    secret: {Secret}\n"));

    [Fact]
    public void Load_WildcardOriginWithCredentials_NamesFileAndLine() =>
        Assert.Equal(["FILE:4: header.cors.Access-Control-Allow-Credentials: credentials cannot be allowed to every origin ('*'): browsers refuse such answers; list the pages' origins in header.cors.Access-Control-Allow-Origin"],
            ConfigTesting.Problems("header:\n  cors:\n    Access-Control-Allow-Origin: '*'\n    Access-Control-Allow-Credentials: 'true'\n"));

    [Fact]
    public void Load_WildcardOriginWithCredentialsFromTheEnvironment_NamesTheVariable() =>
        Assert.Equal(["environment EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Credentials: header.cors.Access-Control-Allow-Credentials: credentials cannot be allowed to every origin ('*'): browsers refuse such answers; list the pages' origins in header.cors.Access-Control-Allow-Origin"],
            ConfigTesting.EnvironmentProblems(("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Credentials", "true")));

    [Theory]
    [InlineData("yes")]
    [InlineData("1")]
    [InlineData("on")]
    public void Load_CredentialsOtherThanTrueOrFalse_IsAnError(string value) =>
        Assert.Equal([$"FILE:4: header.cors.Access-Control-Allow-Credentials: browsers allow credentials only for 'true', got '{value}'; to allow none, leave the header out or give it an empty value"],
            ConfigTesting.Problems($"header:\n  cors:\n    Access-Control-Allow-Origin: https://app.example\n    Access-Control-Allow-Credentials: {value}\n"));

    [Fact]
    public void Load_CredentialsOtherThanTrueOrFalseFromTheEnvironment_NamesTheVariable() =>
        Assert.Equal(["environment EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Credentials: header.cors.Access-Control-Allow-Credentials: browsers allow credentials only for 'true', got 'yes'; to allow none, leave the header out or give it an empty value"],
            ConfigTesting.EnvironmentProblems(
                ("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin", "https://app.example"),
                ("EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Credentials", "yes")));

    [Fact]
    public void Load_WildcardOriginWithCredentialsTrueInAnotherCase_IsStillAnError() =>
        Assert.Equal(["FILE:4: header.cors.Access-Control-Allow-Credentials: credentials cannot be allowed to every origin ('*'): browsers refuse such answers; list the pages' origins in header.cors.Access-Control-Allow-Origin"],
            ConfigTesting.Problems("header:\n  cors:\n    Access-Control-Allow-Origin: '*'\n    Access-Control-Allow-Credentials: True\n"));

    [Theory]
    [InlineData("True")]
    [InlineData("TRUE")]
    [InlineData("true")]
    [InlineData("'true'")]
    [InlineData("'false'")]
    [InlineData("''")]
    public void Load_CredentialsTrueFalseOrEmpty_IsAccepted(string value)
    {
        var options = ConfigTesting.Load($"header:\n  cors:\n    Access-Control-Allow-Origin: https://app.example\n    Access-Control-Allow-Credentials: {value}\n");

        Assert.Equal("https://app.example", options.Header.Cors["Access-Control-Allow-Origin"]);
    }

    [Fact]
    public void Load_OriginList_IsAccepted()
    {
        var options = ConfigTesting.Load("header:\n  cors:\n    Access-Control-Allow-Origin: https://app.example, http://localhost:8080\n    Access-Control-Allow-Credentials: 'true'\n");

        Assert.Equal("https://app.example, http://localhost:8080", options.Header.Cors["Access-Control-Allow-Origin"]);
    }

    [Theory]
    [InlineData("https://app.example/", "'https://app.example/' is not an origin: scheme://host[:port], without a path or a trailing '/' (e.g. https://app.example.com)")]
    [InlineData("app.example", "'app.example' is not an origin: scheme://host[:port], without a path or a trailing '/' (e.g. https://app.example.com)")]
    [InlineData("'*, https://app.example'", "'*' allows every origin: give either '*' or a list of origins")]
    [InlineData("http://localhost:80", "'http://localhost:80' names the default port of http, which browsers leave out of the Origin they send: write 'http://localhost'")]
    [InlineData("'https://app.example:443, http://localhost:8080'", "'https://app.example:443' names the default port of https, which browsers leave out of the Origin they send: write 'https://app.example'")]
    [InlineData("https://*.example.com", "'https://*.example.com' is not an origin: a wildcard matches no page; list each page's origin (scheme://host[:port]), or give '*' alone for every origin")]
    [InlineData("'https://app.example, *.example.com'", "'*.example.com' is not an origin: a wildcard matches no page; list each page's origin (scheme://host[:port]), or give '*' alone for every origin")]
    public void Load_BadOriginList_IsAnError(string value, string problem) =>
        Assert.Equal([$"FILE:3: header.cors.Access-Control-Allow-Origin: {problem}"],
            ConfigTesting.Problems($"header:\n  cors:\n    Access-Control-Allow-Origin: {value}\n"));

    /// <summary>
    /// Variables are case-insensitive (README, "Configuration") and usually written in capitals:
    /// <c>EVENTSOURCED_AUTH__READ_CLAIMS__QUEUE</c> was refused (exit 78, "expected a kind of subscription, queue or
    /// topic, got 'QUEUE'"), so that the map could only be set from the environment in lower case. A kind in any case
    /// replaces that kind's default claim, and tokens are then held to it.
    /// </summary>
    [Theory]
    [InlineData("QUEUE")]
    [InlineData("Queue")]
    [InlineData("queue")]
    public void Load_ReadClaimsKindInAnyCase_FromTheEnvironment_ReplacesThatKindsClaim(string kind)
    {
        var options = ConfigTesting.LoadEnvironment(($"EVENTSOURCED_AUTH__READ_CLAIMS__{kind}", "rooms"), ("EVENTSOURCED_AUTH__JWT__SECRET", Secret));

        Assert.Equal(2, options.Auth.ReadClaims.Count);
        Assert.Equal("rooms", options.Auth.ReadClaims["queue"]);
        var permissions = new Eventsourced.Authorization.SubscriberPermissions(
            Microsoft.Extensions.Options.Options.Create(options.Auth), Microsoft.Extensions.Options.Options.Create(options.Queue));
        var listedInRooms = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("rooms", "r1")], "test"));
        var listedInQueues = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("queues", "r1")], "test"));
        Assert.True(permissions.MayRead(listedInRooms, "queue", "r1"));
        Assert.False(permissions.MayRead(listedInQueues, "queue", "r1"));
    }

    /// <summary>
    /// <c>-c</c> printed such a kind as the variable spelled it (<c>QUEUE: inboxes</c>, where the schema and
    /// config.yml-dist say <c>queue</c>), and a file's <c>Topic:</c> likewise: a kind is printed by the schema's name.
    /// </summary>
    [Theory]
    [InlineData("QUEUE", "TOPIC")]
    [InlineData("Queue", "Topic")]
    public void Print_ReadClaimsKindsInAnotherCase_AreNamedAsTheSchemaNamesThem(string queue, string topic)
    {
        var options = ConfigTesting.Load($"auth:\n  read_claims:\n    {topic}: rooms\n", ConfigTesting.Env(($"EVENTSOURCED_AUTH__READ_CLAIMS__{queue}", "inboxes")));

        Assert.Contains("\n  read_claims:\n    queue: inboxes\n    topic: rooms\n", ConfigPrinter.ToYaml(options), StringComparison.Ordinal);
    }

    /// <summary>
    /// A kind given without a value (<c>queue:</c>, <c>~</c>) keeps its earlier claim, as the README has every key given
    /// without a value do. It was taken for <c>''</c>, which checks nothing: every valid token read every queue (or topic),
    /// whatever its <c>queues</c> claim listed. <c>''</c> itself still turns the check off, as documented.
    /// </summary>
    [Theory]
    [InlineData("auth:\n  read_claims:\n    queue:\n    topic: ~\n")]
    [InlineData("auth:\n  read_claims:\n    queue: ~\n    topic:\n")]
    public void Load_ReadClaimsKindWithoutValue_KeepsTheEarlierClaim(string yaml)
    {
        using var first = new TempFile("auth:\n  read_claims:\n    queue: inboxes\n");
        using var second = new TempFile(yaml);

        var layered = ConfigTesting.LoadSources([first.Path], second.Path, ConfigTesting.NoEnvironment).Options;
        var alone = ConfigTesting.Load(yaml);

        Assert.Equal("inboxes", layered.Auth.ReadClaims["queue"]);
        Assert.Equal("topics", layered.Auth.ReadClaims["topic"]);
        Assert.Equal("queues", alone.Auth.ReadClaims["queue"]);
        Assert.Equal("topics", alone.Auth.ReadClaims["topic"]);
        Assert.False(ConfigTesting.Load("auth:\n  read_claims:\n    queue: ''\n").Auth.ReadClaims.ContainsKey("queue"));
    }

    [Theory]
    [InlineData("queues")]
    [InlineData("topics")]
    [InlineData("presence")]
    public void Load_ReadClaimsOfAnUnknownKind_IsAnError(string kind) =>
        Assert.Equal([$"FILE:3: auth.read_claims.{kind}: expected a kind of subscription, queue or topic, got '{kind}'"],
            ConfigTesting.Problems($"auth:\n  read_claims:\n    {kind}: allowed\n"));

    [Theory]
    [InlineData("  jwt:\n    secret_files: ['HS999:/run/secrets/jwt']\n", "HS999:/run/secrets/jwt")]
    [InlineData("  read_claims:\n    Queues: queues\n", "Queues")]
    [InlineData("  read_claims:\n    queue: \"a\\tb\"\n", "a\\tb")]
    public void Load_OtherAuthValues_AreQuotedInTheirProblem(string yaml, string quoted) =>
        Assert.Contains($"got '{quoted}'", ConfigTesting.Problems("auth:\n" + yaml).Single(), StringComparison.Ordinal);
}
