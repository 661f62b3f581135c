using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Eventsourced.Consuming;
using Eventsourced.Metrics;
using Eventsourced.WebSockets;
using RabbitMQ.Client;

namespace Eventsourced.LongPolling;

/// <summary>
/// Deliveries as the JSON objects of a poll's array (the WebSocket frames' shape, <see cref="JsonMessage"/>),
/// with a string <c>id</c>: <c>NONCE-TAG</c>. The nonce is new for every subscription, so that an id from a
/// subscription that has ended (the hold ran out, the gateway restarted, another instance answered) never
/// matches a delivery of a later one: delivery tags start again at 1 on every channel.
/// </summary>
internal sealed class PollFormat : IFrameFormat
{
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    public PollFormat() => Nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public string Nonce { get; }

    /// <summary>Whether <paramref name="text"/> has the shape of an answer's id: the nonce (12 lowercase hex digits), '-', a delivery tag from 1.</summary>
    public static bool IsId(string text) =>
        text.Length > 13 && text.Length <= 33 && text[12] == '-' && text[13] != '0'
        && !text.AsSpan(0, 12).ContainsAnyExcept(LowerHex)
        && ulong.TryParse(text.AsSpan(13), NumberStyles.None, CultureInfo.InvariantCulture, out _);

    /// <summary>Never queued: a poll has no heartbeats.</summary>
    public OutboundItem Heartbeat { get; } = OutboundItem.HeartbeatOf([]);

    public OutboundItem Message(ulong tag, ReadOnlySpan<byte> body, IReadOnlyBasicProperties properties, MessageTimestamp published) =>
        JsonMessage.Frame(tag, Nonce, body, properties, published);
}
