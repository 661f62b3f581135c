using System.Diagnostics;
using RabbitMQ.Client;

namespace Eventsourced.Bench.Scenarios;

/// <summary>Publishes a topic's events at a fixed rate: event k is a payload of "queue" 0 with sequence number k and the publisher's timestamp.</summary>
internal static class TopicPublisher
{
    /// <summary>The gateway's <c>topics.prefix</c> (its default): what names a topic's stream.</summary>
    public const string StreamPrefix = "topic.";

    /// <summary>The stream queue of <paramref name="topic"/>.</summary>
    public static string StreamOf(string topic) => StreamPrefix + topic;

    /// <summary>Publishes <paramref name="total"/> events at <paramref name="rate"/> per second; returns the rate reached.</summary>
    public static async Task<double> PublishAsync(BenchContext context, string topic, int rate, long total, int size, Action<long>? published = null)
    {
        await using var connection = await context.Broker.ConnectAsync("eventsourced-bench topic publisher");
        await using var channel = await connection.CreateChannelAsync();
        var properties = new BasicProperties();
        var started = Stopwatch.GetTimestamp();
        long sent = 0;
        while (sent < total)
        {
            var due = Math.Min(total, (long)(Stopwatch.GetElapsedTime(started).TotalSeconds * rate) + 1);
            while (sent < due)
            {
                await channel.BasicPublishAsync(string.Empty, StreamOf(topic), mandatory: false, properties, Payload.Create(0, sent, Stopwatch.GetTimestamp(), size));
                sent++;
                published?.Invoke(sent);
            }

            await Task.Delay(1);
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await channel.CloseAsync();
        await connection.CloseAsync();
        return total > 1 ? (total - 1) / Math.Max(seconds, 1e-9) : total;
    }
}
