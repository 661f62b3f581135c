namespace Eventsourced.Tests.Configuration;

/// <summary>The keys of queue.bind, topics, sse and events: good values taken, bad ones reported with file, line and key.</summary>
public sealed class ConfigLoaderTopicsTests
{
    [Theory]
    [InlineData("queue:\n  bind:\n    - users\n", "FILE:3: queue.bind[0]: expected EXCHANGE:TYPE:ROUTING_KEY (e.g. users:topic:user.${query:id}), got 'users'")]
    [InlineData("queue:\n  bind:\n    - ${query:ex}:fanout\n", "FILE:3: queue.bind[0]: the exchange would be the client's choice (it starts with a query or cookie value): any exchange of the vhost, other applications' too; put text of its own first (room-${query:room}) in '${query:ex}:fanout'")]
    [InlineData("queue:\n  bind:\n    - amq.match:direct:user.${query:id}\n", "FILE:3: queue.bind[0]: amq.match is the broker's headers exchange: it ignores routing keys, and every client's queue would get the messages meant for the others; use another exchange, or type fanout and a key of literal text for a broadcast")]
    [InlineData("queue:\n  bind:\n    - a:fanout\n    - b:headers:x\n", "FILE:4: queue.bind[1]: headers exchanges need binding arguments, which queue.bind does not take; use direct, fanout or topic")]
    [InlineData("queue:\n  bind:\n    - a:fanout\n    - users:topic:user.${claim:sub}\n", "FILE:4: queue.bind[1]: ${claim:...} needs verified tokens: configure a key in auth.jwt (secret, secrets, secret_files, public_keys or jwks_url), or auth.application_user in an application of your own")]
    [InlineData("topics:\n  path: /topics\n", "FILE:2: topics.path: must end with '/' (the topic's name follows it), got '/topics'")]
    [InlineData("topics:\n  prefix: amq.\n", "FILE:2: topics.prefix: prefix must not start with 'amq.'")]
    [InlineData("topics:\n  max_age: 7 days\n", "FILE:2: topics.max_age: expected a number and a unit Y, M, D, h, m or s (7D, 12h), or empty for no limit, got '7 days'")]
    [InlineData("topics:\n  max_length_bytes: 1.5GB\n", "FILE:2: topics.max_length_bytes: expected bytes as digits with an optional unit (500MB, 2GiB), or empty for no limit, got '1.5GB'")]
    [InlineData("topics:\n  buffer: 8\n", "FILE:2: topics.buffer: must be from 16 to 65535, got 8")]
    [InlineData("topics:\n  create:\n    - ''\n", "FILE:3: topics.create[0]: empty value")]
    [InlineData("sse:\n  retry: -1\n", "FILE:2: sse.retry: must be from 0 to 86400000, got -1")]
    [InlineData("sse:\n  event: yes\n", "FILE:2: sse.event: expected true or false, got 'yes'")]
    [InlineData("sse:\n  heartbeat_event: 'ping pong'\n", "FILE:2: sse.heartbeat_event: invalid event type 'ping pong' (allowed: up to 64 letters, digits and -_.:)")]
    [InlineData("sse:\n  heartbeat_event: \"ping\\n\"\n", "FILE:2: sse.heartbeat_event: invalid event type 'ping\\n' (allowed: up to 64 letters, digits and -_.:)")]
    [InlineData("sse:\n  heartbeat_event: message\n", "FILE:2: sse.heartbeat_event: event type 'message' would reach the page's onmessage; choose another (for example heartbeat)")]
    [InlineData("sse:\n  heartbeat_event: error\n", "FILE:2: sse.heartbeat_event: event type 'error' would reach the page's onerror; choose another (for example heartbeat)")]
    [InlineData("server:\n  path: /topics/\n", "FILE:2: server.path: '/topics/' is also topics.path; give each endpoint its own path")]
    [InlineData("queue:\n  pattern: topic.${query:id}\n", "FILE:2: queue.pattern: queue names starting with topics.prefix 'topic.' are the names of topics' streams, but queue.pattern 'topic.${query:id}' gives only such names: give one of them another prefix")]
    [InlineData("topics:\n  prefix: user-\nqueue:\n  pattern: user-${query:id}\n", "FILE:4: queue.pattern: queue names starting with topics.prefix 'user-' are the names of topics' streams, but queue.pattern 'user-${query:id}' gives only such names: give one of them another prefix")]
    public void Load_BadValue_ReportsFileLineAndKey(string yaml, string expected) =>
        Assert.Equal([expected], ConfigTesting.Problems(yaml));

    [Fact]
    public void Load_GoodValues_AreTaken()
    {
        var options = ConfigTesting.Load("""
            queue:
              bind:
                - users:topic:user.${query:id}
                - broadcast:fanout
            topics:
              path: /t/
              prefix: live.
              max_age: 12h
              max_length_bytes: ''
              create: []
              create_max: 0
            sse:
              event: true
              id: true
              retry: 3000
              heartbeat_event: keep-alive
            events:
              exchange: presence
              instance: gw-1
            """);

        Assert.Equal(["users:topic:user.${query:id}", "broadcast:fanout"], options.Queue.Bind);
        Assert.Equal(("/t/", "live.", "12h", ""), (options.Topics.Path, options.Topics.Prefix, options.Topics.MaxAge, options.Topics.MaxLengthBytes));
        Assert.Empty(options.Topics.Create);
        Assert.Equal(0, options.Topics.CreateMax);
        Assert.Equal((true, true, 3000, "keep-alive"), (options.Sse.Event, options.Sse.Id, options.Sse.RetryMilliseconds, options.Sse.HeartbeatEvent));
        Assert.Equal(("presence", "gw-1"), (options.Events.Exchange, options.Events.Instance));
    }

    [Theory]
    [InlineData("queue:\n  pattern: topic.${query:id}\ntopics:\n  path: ''\n")] // topics off
    [InlineData("queue:\n  pattern: topic.${query:id}\ntopics:\n  prefix: ''\n")]
    [InlineData("queue:\n  pattern: topics-${query:id}\n")] // starts with "topic", not "topic."
    public void Load_QueuePatternBesideTopicsPrefix_FineWhenTheNamesCannotMeet(string yaml) =>
        Assert.StartsWith("topic", ConfigTesting.Load(yaml).Queue.Pattern, StringComparison.Ordinal);

    [Theory]
    [InlineData("topics:\n  path: /topics/\n", "topic.")]
    [InlineData("topics:\n  prefix: ''\n", "")]
    public void Load_Prefix_IsTopicDotUnlessSet_EmptyNamesStreamsAsTheirTopics(string yaml, string expected) =>
        Assert.Equal(expected, ConfigTesting.Load(yaml).Topics.Prefix);

    [Fact]
    public void Load_BindingsFromTheEnvironment_OneVariablePerEntry()
    {
        var options = ConfigTesting.LoadEnvironment(
            ("EVENTSOURCED_QUEUE__BIND__0", "users:topic:user.${query:id}"),
            ("EVENTSOURCED_QUEUE__BIND__1", "news:fanout"));

        Assert.Equal(["users:topic:user.${query:id}", "news:fanout"], options.Queue.Bind);
    }
}
