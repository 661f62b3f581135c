using System.Net;
using System.Net.ServerSentEvents;
using System.Text;

namespace Eventsourced.Testing.Gateways;

/// <summary>
/// The test side of one stream: the raw bytes as they arrive (for wire-format checks) and the events
/// as a real SSE parser sees them (<see cref="SseParser"/>, what a browser's EventSource would do).
/// </summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly Stream? _body;
    private readonly MemoryStream _raw = new();
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly List<string> _events = [];
    private readonly List<SseItem<string>> _items = [];
    private int _parsedBytes;

    private SseClient(HttpResponseMessage response, Stream? body)
    {
        _response = response;
        _body = body;
    }

    public HttpStatusCode Status => _response.StatusCode;

    public HttpResponseMessage Response => _response;

    /// <summary>The refusal's <c>X-Status-Reason</c>, if any.</summary>
    public string? Reason => _response.Headers.TryGetValues("X-Status-Reason", out var values) ? values.FirstOrDefault() : null;

    /// <summary>Every byte received so far, as UTF-8 text.</summary>
    public string RawText => Encoding.UTF8.GetString(_raw.GetBuffer(), 0, (int)_raw.Length);

    public bool Ended { get; private set; }

    public static async Task<SseClient> OpenAsync(HttpClient client, string pathAndQuery, Action<HttpRequestMessage>? configure, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.Accept.ParseAdd("text/event-stream");
        configure?.Invoke(request);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return new SseClient(response, body);
    }

    /// <summary>Reads until the raw text satisfies <paramref name="done"/>; false when the stream ended first.</summary>
    public Task<bool> ReadUntilAsync(Func<string, bool> done, TimeSpan timeout) => ReadUntilAsync(() => done(RawText), timeout);

    /// <summary>Reads until <paramref name="done"/> holds; false when the stream ended first.</summary>
    public async Task<bool> ReadUntilAsync(Func<bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!done())
            {
                var n = await _body!.ReadAsync(_buffer, cts.Token);
                if (n == 0)
                {
                    Ended = true;
                    return done();
                }

                _raw.Write(_buffer, 0, n);
            }

            return true;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            var text = RawText;
            var tail = text.Length <= 2000 ? text : "..." + text[^2000..];
            throw new TimeoutException($"stream did not reach the expected state within {timeout}; {_raw.Length} bytes received, ending:\n{tail}");
        }
        catch (IOException)
        {
            Ended = true;
            return done();
        }
    }

    /// <summary>Waits until the server ends the stream; throws on timeout.</summary>
    public async Task WaitForEndAsync(TimeSpan timeout)
    {
        await ReadUntilAsync(() => false, timeout);
        if (!Ended)
        {
            throw new TimeoutException("stream did not end");
        }
    }

    /// <summary>The data of every complete event so far, parsed as an EventSource would.</summary>
    public IReadOnlyList<string> Events()
    {
        // Incremental: only the bytes completed since the last call are parsed, so a long stream
        // does not make this client slow (a slow reader is cut off by the gateway's write timeout).
        var bytes = _raw.GetBuffer();
        var complete = CompleteLength(bytes, _parsedBytes, (int)_raw.Length);
        if (complete > _parsedBytes)
        {
            var parser = SseParser.Create(new MemoryStream(bytes, _parsedBytes, complete - _parsedBytes));
            foreach (var item in parser.Enumerate())
            {
                _items.Add(item);
                _events.Add(item.Data);
            }

            _parsedBytes = complete;
        }

        return _events;
    }

    /// <summary>Every complete event so far with its type and id, parsed as an EventSource would (the id is the event's own <c>id:</c>, if any).</summary>
    public IReadOnlyList<SseItem<string>> Items()
    {
        Events();
        return _items;
    }

    /// <summary>Reads until <paramref name="count"/> events have arrived, and returns them with their types and ids.</summary>
    public async Task<IReadOnlyList<SseItem<string>>> ReadItemsAsync(int count, TimeSpan timeout)
    {
        await ReadUntilAsync(() => Events().Count >= count, timeout);
        return Items().ToList();
    }

    /// <summary>Reads until <paramref name="count"/> events have arrived, and returns them.</summary>
    public async Task<IReadOnlyList<string>> ReadEventsAsync(int count, TimeSpan timeout)
    {
        await ReadUntilAsync(() => Events().Count >= count, timeout);
        return Events().ToList();
    }

    public async Task<string> ReadBodyAsync()
    {
        await ReadUntilAsync(() => false, TimeSpan.FromSeconds(10));
        return RawText;
    }

    public ValueTask DisposeAsync()
    {
        _response.Dispose();
        _body?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The end of the last complete event (a blank line) in [from, length), or from if none.</summary>
    private static int CompleteLength(byte[] bytes, int from, int length)
    {
        for (var i = length - 1; i > from && i > 0; i--)
        {
            if (bytes[i] == '\n' && bytes[i - 1] == '\n')
            {
                return i + 1;
            }
        }

        return from;
    }
}
