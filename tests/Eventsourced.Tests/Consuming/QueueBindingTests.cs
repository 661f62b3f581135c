using Eventsourced.Consuming;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Consuming;

public sealed class QueueBindingTests
{
    [Theory]
    [InlineData("users:topic:user.${query:id}", "users", "topic", "user.${query:id}")]
    [InlineData("news:fanout", "news", "fanout", "")]
    [InlineData("news:FANOUT:", "news", "fanout", "")]
    [InlineData("ex:direct:a:b:c", "ex", "direct", "a:b:c")]
    [InlineData("team-${cookie:team}:topic:${query:id}.#", "team-${cookie:team}", "topic", "${query:id}.#")]
    [InlineData("${claim:tenant}:topic:user.${query:id}", "${claim:tenant}", "topic", "user.${query:id}")]
    [InlineData("${claim:tenant}.${query:room}:fanout", "${claim:tenant}.${query:room}", "fanout", "")]
    [InlineData("amq.topic:topic:x", "amq.topic", "topic", "x")]
    [InlineData("amq.fanout:direct:all", "amq.fanout", "direct", "all")]
    [InlineData("amq.headers:topic:user.#", "amq.headers", "topic", "user.#")]
    public void Parse_Valid_SplitsAtTheFirstTwoColonsOutsidePlaceholders(string text, string exchange, string type, string routingKey)
    {
        var binding = QueueBinding.Parse(text);

        Assert.Equal(exchange, binding.Exchange.ToString());
        Assert.Equal(type, binding.Type);
        Assert.Equal(routingKey, binding.RoutingKey.ToString());
    }

    [Theory]
    [InlineData("users", "expected EXCHANGE:TYPE:ROUTING_KEY")]
    [InlineData(":topic:x", "the exchange is empty")]
    [InlineData("ex:headers:x", "headers exchanges need binding arguments")]
    [InlineData("ex:fan:x", "unknown exchange type 'fan'")]
    [InlineData("ex:topic:${query:id", "unclosed '${'")]
    [InlineData("ex:topic:${header:x}", "unknown source 'header'")]
    [InlineData("${query:ex}:topic:x", "the exchange would be the client's choice")]
    [InlineData("${cookie:team}-users:topic:x", "the exchange would be the client's choice")]
    [InlineData("a${query:ex}:fanout", "the broker's own amq.* exchanges")]
    [InlineData("AMQ.${query:ex}:fanout", "the broker's own amq.* exchanges")]
    [InlineData("amq.rabbitmq.${cookie:x}:topic:#", "the broker's own amq.* exchanges")]
    [InlineData("amq.fanout:direct:user.${claim:sub}", "amq.fanout is the broker's fanout exchange: it ignores routing keys")]
    [InlineData("amq.headers:topic:user.${claim:sub}.#", "amq.headers is the broker's headers exchange: it ignores routing keys")]
    [InlineData("amq.match:direct:x.${query:id}", "amq.match is the broker's headers exchange: it ignores routing keys")]
    public void Parse_Invalid_SaysWhy(string text, string problem)
    {
        var ex = Assert.Throws<FormatException>(() => QueueBinding.Parse(text));

        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryResolve_ReplacesPlaceholdersFromTheRequest()
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?id=42");
        context.Request.Headers.Cookie = "team=red";

        Assert.True(QueueBinding.Parse("users-${cookie:team}:topic:user.${query:id}").TryResolve(context.Request, out var binding, out _));
        Assert.Equal(new ResolvedBinding("users-red", "topic", "user.42", KeyPerRequest: true), binding);
        Assert.False(QueueBinding.Parse("users:topic:user.${query:other}").TryResolve(context.Request, out _, out var reason));
        Assert.Equal("missing query parameter 'other'", reason);
    }

    [Theory]
    [InlineData("?id=%23", "query parameter 'id' must not contain '#' (a wildcard of the topic exchange it binds to)")]
    [InlineData("?id=*", "query parameter 'id' must not contain '*' (a wildcard of the topic exchange it binds to)")]
    [InlineData("?id=42.%23", "query parameter 'id' must not contain '#' (a wildcard of the topic exchange it binds to)")]
    public void TryResolve_TopicWildcardFromTheRequest_IsRefused(string query, string problem)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);
        context.Request.Headers.Cookie = "team=r*d";

        // ?id=# would bind user.#: every user's private messages into the requester's queue.
        Assert.False(QueueBinding.Parse("users:topic:user.${query:id}").TryResolve(context.Request, out _, out var reason));
        Assert.Equal(problem, reason);
        Assert.False(QueueBinding.Parse("users:topic:team.${cookie:team}").TryResolve(context.Request, out _, out reason));
        Assert.Equal("cookie 'team' must not contain '*' (a wildcard of the topic exchange it binds to)", reason);

        // Direct and fanout exchanges have no wildcards, and the operator's literal text may use them.
        Assert.True(QueueBinding.Parse("users:direct:user.${query:id}").TryResolve(context.Request, out _, out _));
        context.Request.QueryString = new QueryString("?id=42");
        Assert.True(QueueBinding.Parse("news:topic:news.#.${query:id}").TryResolve(context.Request, out var binding, out _));
        Assert.Equal("news.#.42", binding.RoutingKey);
    }

    [Fact]
    public void TryResolve_RoutingKeyOver255Bytes_IsRefused()
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?id=" + new string('x', 251));

        Assert.False(QueueBinding.Parse("users:topic:user.${query:id}").TryResolve(context.Request, out _, out var reason));
        Assert.Equal("routing key of a queue binding longer than 255 bytes", reason);
    }

    [Theory]
    [InlineData("?room=a%0Ab")]
    [InlineData("?room=a%7Fb")]
    [InlineData("?room=a%C2%85b")]
    [InlineData("?room=a%C2%9Bb")]
    public void TryResolve_ControlCharactersFromTheRequest_C1Included_AreRefused(string query)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString(query);

        Assert.False(QueueBinding.Parse("rooms:topic:room.${query:room}").TryResolve(context.Request, out _, out var reason));
        Assert.Equal("routing key of a queue binding contains control characters", reason);
        Assert.False(QueueBinding.Parse("room-${query:room}:fanout").TryResolve(context.Request, out _, out reason));
        Assert.Equal("exchange of a queue binding contains control characters", reason);
    }
}
