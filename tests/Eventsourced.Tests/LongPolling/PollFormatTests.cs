using Eventsourced.LongPolling;
using Eventsourced.WebSockets;

namespace Eventsourced.Tests.LongPolling;

/// <summary>The shape of an answer's id, which <c>?ack=</c> must have: anything else is a client's mistake (a 400).</summary>
public sealed class PollFormatTests
{
    [Theory]
    [InlineData(1ul)]
    [InlineData(42ul)]
    [InlineData(ulong.MaxValue)]
    public void IsId_TheIdOfAnAnswersMessage_IsOne(ulong tag)
    {
        var format = new PollFormat();
        Assert.True(PollFormat.IsId(JsonMessage.Id(format.Nonce, tag)));
    }

    [Theory]
    [InlineData("k-3")] // a message_id
    [InlineData("f2b8c7e0-5d1a-4c3e-9a7b-1c2d3e4f5a6b")] // a UUID message_id
    [InlineData("17")] // a WebSocket frame's id
    [InlineData("9f2c41a07b3e")]
    [InlineData("9f2c41a07b3e-")]
    [InlineData("9f2c41a07b3e-0")] // delivery tags start at 1
    [InlineData("9f2c41a07b3e-01")]
    [InlineData("9f2c41a07b3e-+1")]
    [InlineData("9f2c41a07b3e-1 ")]
    [InlineData("9f2c41a07b3e-18446744073709551616")] // past a delivery tag's 64 bits
    [InlineData("9F2C41A07B3E-1")]
    [InlineData("9f2c41a07b3g-1")]
    [InlineData("9f2c41a07b3-12")]
    [InlineData("\"9f2c41a07b3e-1\"")]
    public void IsId_AnythingElse_IsNone(string text) => Assert.False(PollFormat.IsId(text));
}
