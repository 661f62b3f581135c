using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Eventsourced.Testing.Gateways;

/// <summary>A message frame from the gateway: <c>{"id": ..., "type": ..., "data": ...}</c>.</summary>
public sealed record WebSocketMessage(JsonElement Id, string? Type, string Data, bool Base64)
{
    /// <summary>The frame's <c>from</c> (the message's <c>sender</c> header), null when the frame has none.</summary>
    public string? From { get; init; }

    /// <summary>The frame's <c>message_id</c> (the message's AMQP <c>message_id</c>), null when the frame has none.</summary>
    public string? MessageId { get; init; }

    /// <summary>The id as a number (WebSocket frames).</summary>
    public ulong Number => Id.GetUInt64();

    public byte[] Bytes => Base64 ? Convert.FromBase64String(Data) : Encoding.UTF8.GetBytes(Data);
}

/// <summary>
/// The test side of one WebSocket to the gateway: a real <see cref="ClientWebSocket"/> (what .NET applications
/// use), with the upgrade's answer kept (<see cref="Status"/>, <see cref="Headers"/>) when the gateway refuses.
/// A background loop receives every text frame into <see cref="Frames"/>, in order (waiting never cancels a
/// receive: a cancelled receive aborts a .NET WebSocket); <see cref="Messages"/> are the frames that carry a
/// message, <see cref="Answers"/> the gateway's answers (<c>published</c>, <c>error</c>).
/// </summary>
public sealed class WebSocketClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly List<JsonElement> _frames = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly Task _receiving;
    private volatile bool _ended;

    private WebSocketClient(ClientWebSocket socket, HttpStatusCode status, IReadOnlyDictionary<string, IEnumerable<string>>? headers)
    {
        _socket = socket;
        Status = status;
        Headers = headers ?? new Dictionary<string, IEnumerable<string>>();
        _receiving = Connected ? Task.Run(ReceiveLoopAsync) : Task.CompletedTask;
        _ended = !Connected;
    }

    /// <summary>101 when the upgrade succeeded; otherwise the gateway's refusal.</summary>
    public HttpStatusCode Status { get; }

    public IReadOnlyDictionary<string, IEnumerable<string>> Headers { get; }

    public bool Connected => Status == HttpStatusCode.SwitchingProtocols;

    /// <summary>The refusal's <c>X-Status-Reason</c>, if any.</summary>
    public string? Reason => Headers.FirstOrDefault(h => string.Equals(h.Key, "X-Status-Reason", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault();

    public WebSocket Socket => _socket;

    public IReadOnlyList<JsonElement> Frames
    {
        get
        {
            lock (_frames)
            {
                return _frames.ToList();
            }
        }
    }

    public IReadOnlyList<WebSocketMessage> Messages => Frames.Where(f => f.TryGetProperty("data", out _)).Select(ToMessage).ToList();

    /// <summary>Frames that are the gateway's answers (no <c>data</c>, and not the opening <c>lastEventId</c>).</summary>
    public IReadOnlyList<JsonElement> Answers => Frames.Where(f => !f.TryGetProperty("data", out _) && !f.TryGetProperty("lastEventId", out _)).ToList();

    /// <summary>The opening <c>{"lastEventId": "ID"}</c> frame's id (a topic subscribed to for new events only), if one came.</summary>
    public string? StartsAfter => Frames.Where(f => f.TryGetProperty("lastEventId", out _)).Select(f => f.GetProperty("lastEventId").GetString()).FirstOrDefault();

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseDescription { get; private set; }

    /// <summary>True once the gateway closed or the connection broke.</summary>
    public bool Ended => _ended;

    /// <summary>Connects to <paramref name="baseAddress"/> (http://) + <paramref name="pathAndQuery"/>; a refusal is returned, not thrown.</summary>
    public static async Task<WebSocketClient> ConnectAsync(Uri baseAddress, string pathAndQuery, Action<ClientWebSocketOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        var uri = new UriBuilder(new Uri(baseAddress, pathAndQuery)) { Scheme = baseAddress.Scheme == "https" ? "wss" : "ws" }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await socket.ConnectAsync(uri, timeout.Token);
        }
        catch (WebSocketException) when (socket.HttpStatusCode != 0)
        {
            // Refused: the status and headers of the answer are kept.
        }

        return new WebSocketClient(socket, socket.HttpStatusCode, socket.HttpResponseHeaders);
    }

    public Task SendAsync(string json) => SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text);

    public Task SendAsync(byte[] bytes, WebSocketMessageType type) =>
        _socket.SendAsync(bytes, type, endOfMessage: true, CancellationToken.None);

    public Task AckAsync(ulong id, bool multiple = false) =>
        SendAsync(multiple ? $"{{\"ack\":{id},\"multiple\":true}}" : $"{{\"ack\":{id}}}");

    /// <summary>Waits until <paramref name="done"/> holds; false when the connection ended first.</summary>
    public async Task<bool> ReceiveUntilAsync(Func<bool> done, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(done);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!done())
            {
                if (_ended)
                {
                    return done();
                }

                await _arrived.WaitAsync(cts.Token);
            }

            return true;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"the WebSocket did not reach the expected state within {timeout}; frames so far:\n{string.Join("\n", Frames)}");
        }
    }

    /// <summary>Waits until <paramref name="count"/> messages have arrived; returns every message so far.</summary>
    public async Task<IReadOnlyList<WebSocketMessage>> ReceiveMessagesAsync(int count, TimeSpan timeout)
    {
        await ReceiveUntilAsync(() => Messages.Count >= count, timeout);
        return Messages;
    }

    /// <summary>Waits until <paramref name="count"/> answers have arrived; returns every answer so far.</summary>
    public async Task<IReadOnlyList<JsonElement>> ReceiveAnswersAsync(int count, TimeSpan timeout)
    {
        await ReceiveUntilAsync(() => Answers.Count >= count, timeout);
        return Answers;
    }

    /// <summary>Waits until the gateway closes or the connection ends; throws on timeout.</summary>
    public Task WaitForCloseAsync(TimeSpan timeout) => ReceiveUntilAsync(() => false, timeout);

    /// <summary>Closes with a close handshake (1000 unless <paramref name="status"/> says otherwise).</summary>
    public async Task CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure)
    {
        if (_socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _socket.CloseOutputAsync(status, status == WebSocketCloseStatus.Empty ? null : "bye", timeout.Token);
            await ReceiveUntilAsync(() => false, TimeSpan.FromSeconds(10));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        await _receiving;
        _socket.Dispose();
        _arrived.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    CloseDescription = result.CloseStatusDescription;
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    using var document = JsonDocument.Parse(message.ToArray());
                    lock (_frames)
                    {
                        _frames.Add(document.RootElement.Clone());
                    }

                    message.SetLength(0);
                    _arrived.Release();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection broke, or the test aborted it.
        }
        finally
        {
            _ended = true;
            _arrived.Release();
        }
    }

    private static WebSocketMessage ToMessage(JsonElement frame) => new(
        frame.GetProperty("id").Clone(),
        frame.GetProperty("type").ValueKind == JsonValueKind.Null ? null : frame.GetProperty("type").GetString(),
        frame.GetProperty("data").GetString()!,
        frame.TryGetProperty("base64", out var flag) && flag.GetBoolean())
    {
        From = frame.TryGetProperty("from", out var from) ? from.GetString() : null,
        MessageId = frame.TryGetProperty("message_id", out var messageId) ? messageId.GetString() : null,
    };
}
