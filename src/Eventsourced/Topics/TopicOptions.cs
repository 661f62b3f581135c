using System.ComponentModel.DataAnnotations;
using Eventsourced.Configuration;
using Microsoft.Extensions.Configuration;

namespace Eventsourced.Topics;

/// <summary>
/// The <c>topics</c> section: topic streams, a second kind of subscription next to the client's own queue. A topic
/// is a RabbitMQ stream queue that many subscribers read at once, each event carrying its offset as <c>id:</c>.
/// </summary>
public sealed class TopicOptions
{
    /// <summary><c>topics.path</c>: where topics are served, the topic's name following it (<c>/topics/prices</c>); empty switches topics off.</summary>
    [ConfigurationKeyName("path")]
    [ValueRule<TopicsPath>]
    public string Path { get; set; } = "/topics/";

    /// <summary>What <see cref="Prefix"/> is unless configured.</summary>
    public const string DefaultPrefix = "topic.";

    /// <summary>
    /// <c>topics.prefix</c>: put before a topic's name to name its stream queue. The default, <c>topic.</c>, keeps
    /// topics apart from client queues, whose names a topic could otherwise take; empty names streams as their topics.
    /// </summary>
    [ConfigurationKeyName("prefix")]
    [ValueRule<StreamPrefix>]
    public string Prefix { get; set; } = DefaultPrefix;

    /// <summary><c>topics.max_age</c>: how long a stream the gateway creates keeps events (<c>x-max-age</c>: a number and Y, M, D, h, m or s); empty for no limit.</summary>
    [ConfigurationKeyName("max_age")]
    [ValueRule<StreamMaxAge>]
    public string MaxAge { get; set; } = "1D";

    /// <summary><c>topics.max_length_bytes</c>: how many bytes a stream the gateway creates keeps (<c>x-max-length-bytes</c>; <c>500MB</c>, <c>2GiB</c>, or bytes); empty or 0 for no limit.</summary>
    [ConfigurationKeyName("max_length_bytes")]
    [ValueRule<ByteSize>]
    public string MaxLengthBytes { get; set; } = "1GB";

    /// <summary><c>topics.create</c>: names or patterns (<c>*</c> for any run of characters) of topics that may be created on first use; empty: only existing streams.</summary>
    [ConfigurationKeyName("create")]
    [ValueRule<TopicNamePattern>]
    [MayBeEmpty]
    public List<string> Create { get; set; } = ["*"];

    /// <summary><c>topics.create_max</c>: how many topics one gateway instance may create on first use; 0 for no limit.</summary>
    [ConfigurationKeyName("create_max")]
    [Range(0, int.MaxValue)]
    public int CreateMax { get; set; } = 1000;

    /// <summary><c>topics.buffer</c>: events one subscriber may have waiting to be written; a subscriber further behind is ended (it resumes when it reconnects).</summary>
    [ConfigurationKeyName("buffer")]
    [Range(16, 65535)]
    public int Buffer { get; set; } = 256;

    /// <summary><c>topics.recent</c>: the latest events of each topic kept in memory, so that reconnecting subscribers resume without reading the stream; 0 keeps none.</summary>
    [ConfigurationKeyName("recent")]
    [Range(0, 1_000_000)]
    public int Recent { get; set; } = 1024;

    /// <summary><c>topics.linger</c>: seconds a topic stays consumed after its last subscriber left, for subscribers that come back.</summary>
    [ConfigurationKeyName("linger")]
    [Range(0, 3600)]
    public int LingerSeconds { get; set; } = 10;
}
