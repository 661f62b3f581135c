using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Testing.Gateways;

/// <summary>One entry of a <see cref="CollectedLog"/>.</summary>
public sealed record LogEntry(string Category, LogLevel Level, int EventId, string Message);

/// <summary>A logger provider that keeps every entry of an in-process gateway, for tests that read its log.</summary>
public sealed class CollectedLog : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new LogEntry(category, logLevel, eventId.Id, formatter(state, exception)));
    }
}
