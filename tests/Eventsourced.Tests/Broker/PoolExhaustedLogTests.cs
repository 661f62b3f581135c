using Eventsourced.Broker;
using Eventsourced.Tests.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Eventsourced.Tests.Broker;

/// <summary>
/// Event 206 says what follows from no broker connection taking a channel. A publish (a WebSocket client's, a presence
/// event) that finds no publishing connection says that publishes fail: the line said "new subscribers get 503" (seen
/// with a real gateway at a broker's kill -9: the first 206 came from a WebSocket client's publish), which sends an
/// operator looking at subscribers that may be streaming well.
/// </summary>
public sealed class PoolExhaustedLogTests
{
    [Fact]
    public async Task NoPublishingConnection_SaysPublishesFail_NotThatSubscribersGet503()
    {
        var logger = new CapturingLogger();
        await using var pool = new BrokerPool(Options.Create(new BrokerOptions()), TimeProvider.System, new TestMetrics().Gateway, logger);

        var refused = await Assert.ThrowsAsync<BrokerUnavailableException>(() => pool.LeasePublisherAsync(publisherConfirms: true, CancellationToken.None));

        Assert.Contains("no broker connection for publishing is up", refused.Message, StringComparison.Ordinal);
        var line = Assert.Single(logger.Lines, l => l.Id == 206).Message;
        Assert.Contains("no broker connection for publishing is up", line, StringComparison.Ordinal);
        Assert.Contains("WebSocket clients' publishes and presence events fail until one can", line, StringComparison.Ordinal);
        Assert.DoesNotContain("subscribers get 503", line, StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : ILogger<BrokerPool>
    {
        private readonly List<(int Id, string Message)> _lines = [];

        public IReadOnlyList<(int Id, string Message)> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines)
            {
                _lines.Add((eventId.Id, formatter(state, exception)));
            }
        }
    }
}
