using System.Diagnostics;

namespace Eventsourced.Bench.Sse;

/// <summary>Called on a stream's receive loop for each of its events that carried one of our payloads.</summary>
internal delegate void MessageHandler(SseStream stream, long seq, long stamp, long now);

/// <summary>
/// Many streams of one scenario: started together (or in waves), counted as they open, fail or end, and
/// closed together. Opening counts only when the 200 and the opening comment both arrived.
/// </summary>
internal sealed class StreamSet
{
    private readonly SseConnector _connector;
    private readonly MessageHandler? _onMessage;
    private readonly Task?[] _runs;
    private int _opened;
    private int _failed;
    private int _endedEarly;

    /// <param name="webSocket">WebSockets with client acknowledgements instead of SSE streams.</param>
    public StreamSet(SseConnector connector, IReadOnlyList<string> queues, MessageHandler? onMessage, bool webSocket = false)
    {
        _connector = connector;
        _onMessage = onMessage;
        Streams = queues.Select((q, i) => new SseStream(this, i, q, webSocket)).ToArray();
        _runs = new Task?[Streams.Length];
    }

    public SseStream[] Streams { get; }

    /// <summary>Stopwatch timestamp of the first <see cref="Start"/>.</summary>
    public long StartedAt { get; private set; }

    public int Opened => Volatile.Read(ref _opened);

    /// <summary>Streams that ended before streaming: refused (non-200), connection errors, timeouts.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>Streams that were streaming and were ended by the other side.</summary>
    public int EndedEarly => Volatile.Read(ref _endedEarly);

    /// <summary>Starts streams [from, to) at once; each connects, sends its request and reads on its own.</summary>
    public void Start(int from = 0, int to = -1)
    {
        if (to < 0)
        {
            to = Streams.Length;
        }

        if (StartedAt == 0)
        {
            StartedAt = Stopwatch.GetTimestamp();
        }

        for (var i = from; i < to; i++)
        {
            var stream = Streams[i];
            _runs[i] = Task.Run(() => stream.RunAsync(_connector));
        }
    }

    /// <summary>Waits until <paramref name="count"/> streams have opened or failed; false at the timeout.</summary>
    public async Task<bool> WaitSettledAsync(int count, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Opened + Failed < count)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>Failed and never-opened streams, by reason, most frequent first, as "count x reason".</summary>
    public IReadOnlyList<string> FailureReasons(int top = 5) => Streams
        .Where(s => !s.IsStreaming && _runs[s.Index] is not null)
        .GroupBy(s => s.End == StreamEnd.None ? "not streaming yet (timeout)" : s.Reason ?? s.End.ToString())
        .OrderByDescending(g => g.Count())
        .Take(top)
        .Select(g => $"{g.Count()} x {g.Key}")
        .ToArray();

    public void Pause()
    {
        foreach (var stream in Streams)
        {
            stream.Pause();
        }
    }

    public void Resume()
    {
        foreach (var stream in Streams)
        {
            stream.Resume();
        }
    }

    /// <summary>Closes every stream and waits (bounded) for their receive loops to end.</summary>
    public async Task CloseAsync()
    {
        foreach (var stream in Streams)
        {
            stream.Close();
        }

        var runs = _runs.Where(r => r is not null).Select(r => r!).ToArray();
        try
        {
            await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            Log.Line($"warning: {runs.Count(r => !r.IsCompleted)} stream loops still running 30 s after close");
        }
    }

    internal void OnOpened(SseStream stream) => Interlocked.Increment(ref _opened);

    internal void OnMessage(SseStream stream, long seq, long stamp, long now) => _onMessage?.Invoke(stream, seq, stamp, now);

    internal void OnEnded(SseStream stream)
    {
        if (!stream.IsStreaming)
        {
            Interlocked.Increment(ref _failed);
        }
        else if (stream.End != StreamEnd.ClosedByUs)
        {
            Interlocked.Increment(ref _endedEarly);
        }
    }
}
