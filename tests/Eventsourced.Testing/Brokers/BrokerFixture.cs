using Eventsourced.Testing.Processes;
using Xunit;

namespace Eventsourced.Testing.Brokers;

/// <summary>
/// The broker the integration and end-to-end tests share. <c>EVENTSOURCED_TEST_AMQP</c> (set by <c>make test</c>)
/// names it, with <c>EVENTSOURCED_TEST_NODE</c> and <c>EVENTSOURCED_TEST_ERLANG_COOKIE</c> for rabbitmqctl;
/// without it the fixture starts a private node, as a container or a process as <see cref="BrokerChoice"/>
/// picks (<c>EVENTSOURCED_TEST_BROKER</c>). With neither, every test in the collection fails with an
/// explanation: these tests never skip for want of a broker.
/// Tests must not stop or restart this broker (use <see cref="IsolatedBrokerFixture"/>) and should
/// use <see cref="UniqueQueueName"/>: the broker may be shared with other runs.
/// </summary>
public sealed class BrokerFixture : IAsyncLifetime, ITestBroker
{
    public const string AmqpVariable = "EVENTSOURCED_TEST_AMQP";
    public const string NodeVariable = "EVENTSOURCED_TEST_NODE";
    public const string CookieVariable = "EVENTSOURCED_TEST_ERLANG_COOKIE";

    private string? _amqpUrl;
    private IRabbitmqctl? _rabbitmqctl;

    public string AmqpUrl => _amqpUrl ?? throw new InvalidOperationException("The broker fixture is not initialized.");

    public IRabbitmqctl Rabbitmqctl => _rabbitmqctl ?? throw new InvalidOperationException(
        $"This test uses rabbitmqctl, but the broker's node is unknown: {AmqpVariable} is set without {NodeVariable}. "
        + $"Set {NodeVariable}=rabbit@host (and {CookieVariable} unless the CLI's default cookie fits), "
        + $"or unset {AmqpVariable} to let the tests start their own node.");

    /// <summary>The private node this fixture started, or null when it uses <c>EVENTSOURCED_TEST_AMQP</c>.</summary>
    public IBrokerNode? Node { get; private set; }

    /// <summary>Where the broker came from, for messages.</summary>
    public string Source { get; private set; } = "(not initialized)";

    public string UniqueQueueName(string testName) => QueueNames.Unique(testName);

    public Task<AmqpTestClient> ConnectAsync(string testName, CancellationToken cancellationToken = default) =>
        AmqpTestClient.ConnectAsync(AmqpUrl, testName, cancellationToken: cancellationToken);

    public async Task InitializeAsync()
    {
        // Read even when an external broker is named, so that a mistyped value fails every suite, not only
        // the ones that start a broker of their own.
        BrokerSetting setting;
        try
        {
            setting = BrokerChoice.SettingFromEnvironment();
        }
        catch (InvalidOperationException ex)
        {
            throw NoBroker(ex.Message, ex);
        }

        var url = Environment.GetEnvironmentVariable(AmqpVariable);
        if (!string.IsNullOrWhiteSpace(url))
        {
            _amqpUrl = url.Trim();
            Source = $"{AmqpVariable}";
            var node = Environment.GetEnvironmentVariable(NodeVariable);
            if (!string.IsNullOrWhiteSpace(node))
            {
                _rabbitmqctl = new Rabbitmqctl(node.Trim(), Environment.GetEnvironmentVariable(CookieVariable));
            }
        }
        else
        {
            Node = await StartPrivateNodeAsync(setting, "es-it",
                $"{AmqpVariable} is not set and a private RabbitMQ node could not be started");
            _amqpUrl = Node.AmqpUrl;
            _rabbitmqctl = Node.Rabbitmqctl;
            Source = $"private node {Node}";
        }

        try
        {
            await using var probe = await AmqpTestClient.ConnectAsync(_amqpUrl, "eventsourced-tests-fixture-probe", TimeSpan.FromSeconds(30));
        }
        catch (Exception ex)
        {
            throw NoBroker($"no AMQP broker answers at the URL from {Source}: {ex.Message}", ex);
        }

        if (_rabbitmqctl is not null)
        {
            ProcessResult result;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    result = await _rabbitmqctl.AwaitStartupAsync(TimeSpan.FromSeconds(10));
                    break;
                }
                catch (TimeoutException) when (attempt < 3)
                {
                    // rabbitmqctl starts an Erlang VM of its own: on a machine loaded by other jobs (builds, other
                    // nodes starting) one run took longer than its 25 s. A wrong node or cookie fails at once, not so.
                }
                catch (Exception ex) when (ex is TimeoutException or System.ComponentModel.Win32Exception)
                {
                    result = new ProcessResult($"{_rabbitmqctl} await_startup", -1, "", ex.Message);
                    break;
                }
            }

            if (!result.Succeeded)
            {
                throw NoBroker(
                    $"AMQP works, but `{_rabbitmqctl}` cannot reach the node (wrong {NodeVariable} or {CookieVariable}?): "
                    + $"{result.StandardError.Trim()} {result.StandardOutput.Trim()}", null);
            }
        }
    }

    public async Task DisposeAsync()
    {
        if (Node is not null)
        {
            await Node.DisposeAsync();
        }
    }

    /// <summary>Starts a node in the runtime <see cref="BrokerChoice"/> picks, or fails with <see cref="NoBroker"/>.</summary>
    internal static async Task<IBrokerNode> StartPrivateNodeAsync(BrokerSetting setting, string namePrefix, string what)
    {
        BrokerRuntime? runtime = null;
        try
        {
            runtime = BrokerChoice.Choose(setting, DockerEngine.IsReachable);
            return await BrokerNodes.StartAsync(runtime.Value, namePrefix);
        }
        catch (Exception ex)
        {
            var how = runtime switch
            {
                BrokerRuntime.Container => $" (as a {RabbitContainer.Image} container through Testcontainers)",
                BrokerRuntime.Process => " (as a process: the installed rabbitmq-server)",
                _ => "",
            };
            throw NoBroker($"{what}{how}: {ex.Message}", ex);
        }
    }

    internal static InvalidOperationException NoBroker(string detail, Exception? inner) => new(
        "NO USABLE RABBITMQ BROKER FOR THE INTEGRATION TESTS (they fail rather than skip without one): " + detail + "\n"
        + "Fix: run `make test` (it starts a throwaway broker with build/broker.sh and installs Debian's rabbitmq-server as root), "
        + "or install rabbitmq-server (or start Docker) so the tests can start their own nodes "
        + $"({BrokerChoice.Variable}=auto|container|process picks how; auto by default), "
        + $"or point them at a broker: {AmqpVariable}=amqp://user:pass@host:5672/ "
        + $"(plus {NodeVariable}=rabbit@host and {CookieVariable}=... for the tests that use rabbitmqctl).",
        inner);
}
