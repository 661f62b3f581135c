using System.Net;
using System.Net.ServerSentEvents;
using System.Text;

namespace Eventsourced.IntegrationTests.Gateway;

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
    private int _parsedOffset;

    private SseClient(HttpResponseMessage response, Stream? body)
    {
        _response = response;
        _body = body;
    }

    public HttpStatusCode Status => _response.StatusCode;

    public HttpResponseMessage Response => _response;

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
    public async Task<bool> ReadUntilAsync(Func<string, bool> done, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!done(RawText))
            {
                var n = await _body!.ReadAsync(_buffer, cts.Token);
                if (n == 0)
                {
                    Ended = true;
                    return done(RawText);
                }

                _raw.Write(_buffer, 0, n);
            }

            return true;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"stream did not reach the expected state within {timeout}; received so far:\n{RawText}");
        }
        catch (IOException)
        {
            Ended = true;
            return done(RawText);
        }
    }

    /// <summary>Waits until the server ends the stream; throws on timeout.</summary>
    public async Task WaitForEndAsync(TimeSpan timeout)
    {
        await ReadUntilAsync(_ => false, timeout);
        if (!Ended)
        {
            throw new TimeoutException("stream did not end");
        }
    }

    /// <summary>The data of every complete event so far, parsed as an EventSource would.</summary>
    public IReadOnlyList<string> Events()
    {
        var bytes = _raw.ToArray();
        var complete = CompleteLength(bytes);
        var parser = SseParser.Create(new MemoryStream(bytes, 0, complete));
        return parser.Enumerate().Select(item => item.Data).ToList();
    }

    /// <summary>Reads until <paramref name="count"/> events have arrived, and returns them.</summary>
    public async Task<IReadOnlyList<string>> ReadEventsAsync(int count, TimeSpan timeout)
    {
        await ReadUntilAsync(_ => Events().Count >= count, timeout);
        return Events();
    }

    /// <summary>Events that arrived since the last call of this method.</summary>
    public IReadOnlyList<string> TakeNewEvents()
    {
        var all = Events();
        var fresh = all.Skip(_parsedOffset).ToList();
        _parsedOffset = all.Count;
        return fresh;
    }

    public async Task<string> ReadBodyAsync()
    {
        await ReadUntilAsync(_ => false, TimeSpan.FromSeconds(10));
        return RawText;
    }

    public ValueTask DisposeAsync()
    {
        _response.Dispose();
        _body?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static int CompleteLength(byte[] bytes)
    {
        // Up to and including the last blank line: a partial event is not an event yet.
        for (var i = bytes.Length - 1; i > 0; i--)
        {
            if (bytes[i] == '\n' && bytes[i - 1] == '\n')
            {
                return i + 1;
            }
        }

        return 0;
    }
}
