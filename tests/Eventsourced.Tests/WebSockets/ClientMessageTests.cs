using System.Text;
using Eventsourced.WebSockets;

namespace Eventsourced.Tests.WebSockets;

public sealed class ClientMessageTests
{
    [Theory]
    [InlineData("{\"ack\": 17}", 17ul, false)]
    [InlineData("{\"ack\": 17, \"multiple\": true}", 17ul, true)]
    [InlineData("{\"multiple\": false, \"ack\": 18446744073709551615, \"extra\": [1]}", ulong.MaxValue, false)]
    public void Parse_Ack(string json, ulong id, bool multiple) =>
        Assert.Equal(new ClientMessage.Ack(id, multiple), Parse(json));

    [Theory]
    [InlineData("{\"ping\": 5}", "5")]
    [InlineData("{\"ping\": \"t-1\", \"extra\": [1]}", "\"t-1\"")]
    [InlineData("{\"ping\": null}", null)]
    [InlineData("{\"ping\": {\"a\": 1}}", null)]
    [InlineData("{\"ping\": \"0123456789012345678901234567890123456789012345678901234567890123\"}", null)]
    public void Parse_Ping_KeepsANumberOrShortString(string json, string? value) =>
        Assert.Equal(new ClientMessage.Ping(value), Parse(json));

    [Fact]
    public void Parse_PublishText_IsUtf8WithTypeAndRef()
    {
        var publish = Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"lobby\", \"data\": \"hé \\u00e9 🎉\", \"type\": \"chat\"}, \"ref\": \"a\"}"));

        Assert.Equal("lobby", publish.To);
        Assert.Equal("chat", publish.Type);
        Assert.Equal("hé é 🎉", Encoding.UTF8.GetString(publish.Body));
        Assert.Equal("text/plain; charset=utf-8", publish.ContentType);
        Assert.Equal("\"a\"", publish.Ref);
    }

    [Fact]
    public void Parse_PublishJsonValue_IsItsJsonText()
    {
        var publish = Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": {\"a\": [1, null]}}, \"ref\": 12}"));

        Assert.Equal("{\"a\": [1, null]}", Encoding.UTF8.GetString(publish.Body));
        Assert.Equal("application/json", publish.ContentType);
        Assert.Equal("12", publish.Ref);
        Assert.Null(publish.Type);
    }

    [Fact]
    public void Parse_PublishBase64_IsTheDecodedBytes()
    {
        var publish = Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": \"/wA=\", \"base64\": true}}"));

        Assert.Equal(new byte[] { 0xff, 0 }, publish.Body);
        Assert.Equal("application/octet-stream", publish.ContentType);
        Assert.Null(publish.Ref);
    }

    [Fact]
    public void Parse_PublishBase64False_IsTheTextAsItIs()
    {
        var publish = Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": \"/wA=\", \"base64\": false}}"));

        Assert.Equal("/wA="u8.ToArray(), publish.Body);
        Assert.Equal("text/plain; charset=utf-8", publish.ContentType);
    }

    [Theory]
    [InlineData("{\"ack\": ", "not a JSON text")]
    [InlineData("[1]", "expected a JSON object")]
    [InlineData("{}", "expected \"ack\", \"publish\" or \"ping\"")]
    [InlineData("{\"ack\": 1, \"ping\": 1}", "\"ack\" and \"ping\" in one message: send each in a message of its own")]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": 1}, \"ping\": 1}", "\"publish\" and \"ping\" in one message: send each in a message of its own")]
    [InlineData("{\"ping\": 1, \"ping\": 2}", "a member is given twice")]
    [InlineData("{\"ack\": 1, \"publish\": {\"to\": \"x\", \"data\": 1}, \"ref\": \"m1\"}", "\"ack\" and \"publish\" in one message: send each in a message of its own")]
    [InlineData("{\"publish\": {\"to\": \"a\", \"data\": 1}, \"publish\": {\"to\": \"b\", \"data\": 2}}", "a member is given twice")]
    [InlineData("{\"publish\": {\"to\": \"a\", \"to\": \"b\", \"data\": 1}}", "a member is given twice")]
    [InlineData("{\"ack\": 1, \"ack\": 2}", "a member is given twice")]
    [InlineData("{\"ack\": 1, \"multiple\": false, \"multiple\": true}", "a member is given twice")]
    public void Parse_Invalid_SaysWhy(string json, string reason) =>
        Assert.Equal(new ClientMessage.Invalid(reason), Parse(json));

    [Theory]
    [InlineData("{\"ack\": 0}", "\"ack\" must be a message id (a positive integer)", "0")]
    [InlineData("{\"ack\": -1}", "\"ack\" must be a message id (a positive integer)", "-1")]
    [InlineData("{\"ack\": 1.5}", "\"ack\" must be a message id (a positive integer)", "1.5")]
    [InlineData("{\"ack\": 18446744073709551616}", "\"ack\" must be a message id (a positive integer)", "18446744073709551616")]
    [InlineData("{\"ack\": \"1\"}", "\"ack\" must be a message id (a positive integer)", "\"1\"")]
    [InlineData("{\"ack\": null}", "\"ack\" must be a message id (a positive integer)", null)]
    [InlineData("{\"ack\": [1]}", "\"ack\" must be a message id (a positive integer)", null)]
    [InlineData("{\"ack\": 1, \"multiple\": 1}", "\"multiple\" must be true or false", "1")]
    [InlineData("{\"ack\": 7, \"multiple\": \"true\"}", "\"multiple\" must be true or false", "7")]
    public void Parse_MalformedAck_IsABadAck_WithTheIdAsSent(string json, string reason, string? id) =>
        Assert.Equal(new ClientMessage.BadAck(reason, id), Parse(json));

    /// <summary>A malformed publish is answered with the ref as sent, and the connection goes on (it closed with 1008).</summary>
    [Theory]
    [InlineData("{\"publish\": \"x\"}", "\"publish\" must be an object", null, false)]
    [InlineData("{\"publish\": {\"data\": 1}}", "\"publish\" needs \"to\", a string", null, false)]
    [InlineData("{\"publish\": {\"to\": 5}, \"ref\": \"a\"}", "\"publish\" needs \"to\", a string", "\"a\"", true)]
    [InlineData("{\"publish\": {\"to\": 1, \"data\": 1}, \"ref\": 3}", "\"publish\" needs \"to\", a string", "3", true)]
    [InlineData("{\"publish\": {\"to\": \"x\"}, \"ref\": -1.5e3}", "\"publish\" needs \"data\"", "-1.5e3", true)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": 1, \"type\": 2}}", "\"type\" must be a string of at most 255 bytes", null, false)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"!!\", \"base64\": true}, \"ref\": \"m\"}", "\"data\" must be base64 when \"base64\" is true", "\"m\"", true)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"/wA=\", \"base64\": \"true\"}}", "\"base64\" must be true or false", null, false)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"/wA=\", \"base64\": 1}}", "\"base64\" must be true or false", null, false)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"/wA=\", \"base64\": null}}", "\"base64\" must be true or false", null, false)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": 1}, \"ref\": {}}", "\"ref\" must be a string or a number", null, true)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": 1}, \"ref\": null}", "\"ref\" must be a string or a number", null, true)]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"\\ud83c\"}, \"ref\": 9}", "\"data\" is not valid Unicode text (an escaped lone surrogate)", "9", true)]
    public void Parse_MalformedPublish_IsABadPublish_WithTheRefAsSent(string json, string reason, string? reference, bool refGiven) =>
        Assert.Equal(new ClientMessage.BadPublish(reason, reference, refGiven), Parse(json));

    [Fact]
    public void Parse_MalformedPublish_WithALongRef_DoesNotEchoIt() =>
        Assert.Equal(
            new ClientMessage.BadPublish("\"publish\" needs \"data\"", null, true),
            Parse("{\"publish\": {\"to\": \"x\"}, \"ref\": \"" + new string('x', ClientMessage.MaxEchoedId) + "\"}"));

    [Fact]
    public void Parse_MalformedAck_WithALongId_DoesNotEchoIt() =>
        Assert.Equal(
            new ClientMessage.BadAck("\"ack\" must be a message id (a positive integer)", null),
            Parse("{\"ack\": \"" + new string('x', ClientMessage.MaxEchoedId) + "\"}"));

    /// <summary>
    /// JSON's grammar allows an escaped lone surrogate ("\ud800"), which is no Unicode text: System.Text.Json's
    /// GetString throws InvalidOperationException for it, which must not escape (it killed the WebSocket's reader,
    /// leaving the connection open with the client's acknowledgements and close unread).
    /// </summary>
    [Theory]
    [InlineData("{\"publish\": {\"to\": \"\\ud800\", \"data\": \"x\"}}", "\"to\"")]
    [InlineData("{\"publish\": {\"to\": \"a\\udc00b\", \"data\": \"x\"}}", "\"to\"")]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"x\", \"type\": \"\\ud800\"}}", "\"type\"")]
    [InlineData("{\"publish\": {\"to\": \"x\", \"data\": \"\\ud83c\"}}", "\"data\"")]
    public void Parse_LoneSurrogateEscape_IsABadPublishNotAnException(string json, string member) =>
        Assert.Equal(new ClientMessage.BadPublish($"{member} is not valid Unicode text (an escaped lone surrogate)", null, false), Parse(json));

    /// <summary>Deeper than the limit is refused with that reason (it was "not a JSON text", which sent a client looking for a syntax error).</summary>
    [Theory]
    [InlineData(33)]
    [InlineData(1000)]
    public void Parse_NestedDeeperThanTheLimit_IsInvalid_NamingTheLimit(int depth) =>
        Assert.Equal(new ClientMessage.Invalid("JSON nested more than 32 levels deep"), Parse(new string('[', depth) + new string(']', depth)));

    [Fact]
    public void Parse_NestedDeeperThanTheLimit_InsideAPublish_IsInvalid_NamingTheLimit() =>
        Assert.Equal(
            new ClientMessage.Invalid("JSON nested more than 32 levels deep"),
            Parse("{\"publish\": {\"to\": \"x\", \"data\": " + new string('[', 40) + new string(']', 40) + "}}"));

    [Fact]
    public void Parse_NestedUpToTheLimit_IsParsed() =>
        Assert.Equal(new ClientMessage.Invalid("expected a JSON object"), Parse(new string('[', 32) + new string(']', 32)));

    [Theory]
    [InlineData("[[[[ nope")]
    [InlineData("{\"ack\": [1,}")]
    public void Parse_BrokenJson_ShallowerThanTheLimit_IsNotAJsonText(string json) =>
        Assert.Equal(new ClientMessage.Invalid("not a JSON text"), Parse(json));

    [Fact]
    public void Parse_BrokenBeforeTheLimit_IsNotAJsonText_EvenIfDeeperLater() =>
        Assert.Equal(new ClientMessage.Invalid("not a JSON text"), Parse("[1 2" + new string('[', 40) + new string(']', 41)));

    [Fact]
    public void Parse_PublishWithMessageId_KeepsIt()
    {
        var publish = Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": \"hi\", \"message_id\": \"c3f1-1\"}}"));
        Assert.Equal("c3f1-1", publish.MessageId);
        Assert.Null(Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": \"hi\"}}")).MessageId);
        var longest = new string('m', ClientMessage.MaxMessageId);
        Assert.Equal(longest, Assert.IsType<ClientMessage.Publish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": 1, \"message_id\": \"" + longest + "\"}}")).MessageId);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("null")]
    [InlineData("\"\"")]
    [InlineData("[\"a\"]")]
    [InlineData("\"\\ud800\"")]
    public void Parse_PublishWithABadMessageId_IsABadPublish(string messageId) =>
        Assert.Equal(
            new ClientMessage.BadPublish("\"message_id\" must be a string of 1 to 64 characters", "\"m\"", true),
            Parse("{\"publish\": {\"to\": \"x\", \"data\": 1, \"message_id\": " + messageId + "}, \"ref\": \"m\"}"));

    [Fact]
    public void Parse_PublishWithATooLongMessageId_IsABadPublish() =>
        Assert.IsType<ClientMessage.BadPublish>(Parse("{\"publish\": {\"to\": \"x\", \"data\": 1, \"message_id\": \"" + new string('m', ClientMessage.MaxMessageId + 1) + "\"}}"));

    [Fact]
    public void MessageId_IsTheSameForOnePublisherAndText_AndDiffersAcrossPublishersAndTexts()
    {
        var id = MessageSender.MessageId("sender\0alice", "c3f1-1");
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.Equal(id, MessageSender.MessageId("sender\0alice", "c3f1-1"));
        Assert.NotEqual(id, MessageSender.MessageId("sender\0bob", "c3f1-1"));
        Assert.NotEqual(id, MessageSender.MessageId("sender\0alice", "c3f1-2"));
        Assert.NotEqual(id, MessageSender.MessageId("address\0203.0.113.7", "c3f1-1"));
        // The separator keeps a publisher's end from reading as the text's start,
        Assert.NotEqual(MessageSender.MessageId("al", "ice"), MessageSender.MessageId("ali", "ce"));
        // and the publisher's length a NUL in either (a sub "alice\0p" giving "q" is not sub "alice" giving "p\0q").
        Assert.NotEqual(MessageSender.MessageId("sender\0alice\0p", "q"), MessageSender.MessageId("sender\0alice", "p\0q"));
    }

    private static ClientMessage Parse(string json) => ClientMessage.Parse(Encoding.UTF8.GetBytes(json));
}
