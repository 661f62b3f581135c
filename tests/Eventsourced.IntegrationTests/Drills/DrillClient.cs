using System.Diagnostics;
using System.Net;
using Eventsourced.Testing.Gateways;

namespace Eventsourced.IntegrationTests.Drills;

/// <summary>
/// One subscriber as a page with an EventSource and a little code of its own behaves: it streams its queue, and
/// whenever the stream ends or a subscribe is refused it tries again shortly (through whichever gateway
/// <see cref="Pick"/> names: a load balancer). It records every message it received and how long it went
/// without a stream: refused (non-200 answers, or no answer) and away (stream ended until the next 200).
/// </summary>
public sealed class DrillClient
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly string _queue;
    private readonly Func<HttpClient> _pick;
    private readonly HashSet<long> _received = [];
    private readonly object _gate = new();
    private long _duplicates;
    private long _refusals;
    private TimeSpan _longestRefused;
    private TimeSpan _longestAway;
    private TimeSpan _awayTotal;
    private int _streams;
    private string _lastEnding = "";

    public DrillClient(string queue, Func<HttpClient> pick)
    {
        _queue = queue;
        _pick = pick;
    }

    public string Queue => _queue;

    public Func<HttpClient> Pick => _pick;

    public IReadOnlyCollection<long> Received
    {
        get
        {
            lock (_gate)
            {
                return _received.ToArray();
            }
        }
    }

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public long Refusals => Interlocked.Read(ref _refusals);

    public TimeSpan LongestRefused { get { lock (_gate) { return _longestRefused; } } }

    public TimeSpan LongestAway { get { lock (_gate) { return _longestAway; } } }

    public int Streams => Volatile.Read(ref _streams);

    /// <summary>The last comment a stream ended with (<c>: stream ended: ...</c>), if any.</summary>
    public string LastEnding { get { lock (_gate) { return _lastEnding; } } }

    public bool IsStreaming { get; private set; }

    /// <summary>Runs until <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var away = Stopwatch.StartNew();
        Stopwatch? refused = null;
        while (!stop.IsCancellationRequested)
        {
            SseClient? stream = null;
            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(stop);
                connect.CancelAfter(TimeSpan.FromSeconds(15));
                stream = await SseClient.OpenAsync(_pick(), $"/?id={_queue}", null, connect.Token);
                if (stream.Status != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref _refusals);
                    refused ??= Stopwatch.StartNew();
                    await stream.DisposeAsync();
                    await Task.Delay(RetryDelay, stop);
                    continue;
                }

                lock (_gate)
                {
                    _longestAway = Max(_longestAway, away.Elapsed);
                    _awayTotal += away.Elapsed;
                    if (refused is not null)
                    {
                        _longestRefused = Max(_longestRefused, refused.Elapsed);
                    }
                }

                refused = null;
                Interlocked.Increment(ref _streams);
                IsStreaming = true;
                var seen = 0;
                // Stopping disposes the response, which ends a read that waits for bytes.
                var open = stream;
                using var cancelRead = stop.Register(() => open.Response.Dispose());
                await open.ReadUntilAsync(
                    () =>
                    {
                        var events = stream.Events();
                        for (; seen < events.Count; seen++)
                        {
                            Record(events[seen]);
                        }

                        return stop.IsCancellationRequested;
                    },
                    Timeout.InfiniteTimeSpan);
                var raw = stream.RawText;
                var ending = raw.LastIndexOf(": stream ended:", StringComparison.Ordinal);
                if (ending >= 0)
                {
                    lock (_gate)
                    {
                        _lastEnding = raw[ending..].Trim();
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is ObjectDisposedException && stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or TimeoutException or ObjectDisposedException)
            {
                // No answer at all (the gateway is down, or the request timed out): refused too.
                Interlocked.Increment(ref _refusals);
                refused ??= Stopwatch.StartNew();
            }
            finally
            {
                IsStreaming = false;
                if (stream is not null)
                {
                    await stream.DisposeAsync();
                }
            }

            away.Restart();
            try
            {
                await Task.Delay(RetryDelay, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void Record(string data)
    {
        // "QUEUE:SEQ"
        var seq = long.Parse(data.AsSpan(data.LastIndexOf(':') + 1), System.Globalization.CultureInfo.InvariantCulture);
        lock (_gate)
        {
            if (!_received.Add(seq))
            {
                _duplicates++;
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
