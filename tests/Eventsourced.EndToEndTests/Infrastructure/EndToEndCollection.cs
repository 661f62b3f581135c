
// One test at a time: these tests time deliveries, run nginx and a browser, and the machine is small.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

// Debian's chromium, nginx, amqp-tools, unshare and setpriv: these tests run on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Eventsourced.EndToEndTests.Infrastructure;

/// <summary>
/// Every test of this project: one shared broker (<see cref="BrokerFixture"/>: <c>EVENTSOURCED_TEST_AMQP</c>,
/// or a private node) and one browser, launched only if a test asks for it.
/// </summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection : ICollectionFixture<BrokerFixture>, ICollectionFixture<ChromiumFixture>
{
    public const string Name = "EndToEnd";
}
