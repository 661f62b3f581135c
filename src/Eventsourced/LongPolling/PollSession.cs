using System.Buffers;
using Eventsourced.Consuming;
using Eventsourced.Http;
using Eventsourced.Metrics;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.LongPolling;

/// <summary>
/// One poll: acknowledges the previous answer if the poll names its last id (up to an earlier id it names, the rest
/// starting this answer), then answers the messages that
/// are waiting (up to <c>poll.max_messages</c>, or the fewer the poll asks for with <c>?max=</c>), or waits up to <c>poll.wait</c> for the first one and answers
/// what has arrived by then: a JSON array, empty after a wait in vain. A poll that does not name the previous
/// answer's last id gets that same answer again, ids and all, before anything newer: the client lost it, or
/// is another client taking over the queue. Nothing is acknowledged to the broker that no poll acknowledged.
/// </summary>
internal sealed class PollSession(
    HttpContext context,
    PollSubscription subscription,
    string? ack,
    int maxMessages,
    PollSessionOptions options,
    SubscriptionSettings settings,
    GatewayMetrics metrics) : ISubscriptionSession
{
    public long MessagesWritten { get; private set; }

    public async Task<SubscriptionEndReason> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await PollAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (!settings.Stopping.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
            {
                return SubscriptionEndReason.ClientGone;
            }

            // The gateway stops: an empty answer, so that the client polls again (another instance, or this one once back).
            await WriteQuietlyAsync([]);
            return SubscriptionEndReason.Shutdown;
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return await BrokerEndedAsync();
        }
    }

    private async Task<SubscriptionEndReason> PollAsync(CancellationToken cancellationToken)
    {
        if (subscription.Batch is { } previous)
        {
            var acknowledged = ack is null ? -1 : subscription.IndexInBatch(ack);
            if (acknowledged < 0)
            {
                // Not acknowledged: the same answer again, or as much of it as this poll asks for.
                subscription.ShortenBatch(maxMessages);
                MessagesWritten += previous.Count;
                GiveBackWhenOverdue();
                return await WriteAsync(previous) ? SubscriptionEndReason.ClientGone : SubscriptionEndReason.WriteFailed;
            }

            // The answer up to the id named (all of it when that is its last): the rest, if any, starts this answer.
            await subscription.AcknowledgeAsync(previous[acknowledged].Tag, multiple: true, CancellationToken.None);
            subscription.AcknowledgedThrough(acknowledged);
        }

        // What an earlier poll took and never answered comes first (the broker delivered it first).
        var batch = subscription.TakeUnanswered(maxMessages) ?? [];
        Take(batch);
        if (batch.Count == 0 && options.Wait > TimeSpan.Zero)
        {
            using var wait = new CancellationTokenSource(options.Wait, settings.Time);
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, wait.Token);
            try
            {
                while (batch.Count == 0 && await subscription.Items.WaitToReadAsync(waiting.Token))
                {
                    Take(batch);
                }
            }
            catch (OperationCanceledException) when (wait.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Waited in vain: an empty answer.
            }
        }

        await GatherAsync(batch, cancellationToken);

        if (subscription.EndReason is not null)
        {
            foreach (var item in batch)
            {
                item.Release();
            }

            return await BrokerEndedAsync();
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // The client left (or the token expired, or the gateway stops) while the answer was gathered: what was
            // taken stays the subscription's, for the next poll. Dropped here, it would be acknowledged, unseen,
            // with the next answer's last id (acknowledgements cover every earlier delivery of the channel).
            subscription.Unanswered(batch, settings.Time.GetTimestamp());
            GiveBackWhenOverdue();
            cancellationToken.ThrowIfCancellationRequested();
        }

        // Pending from here: if the answer does not reach the client, the next poll gets it again.
        subscription.Answered(batch, settings.Time.GetTimestamp());
        GiveBackWhenOverdue();
        MessagesWritten += batch.Count;
        long bytes = 0;
        foreach (var item in batch)
        {
            bytes += item.Length;
        }

        if (!await WriteAsync(batch))
        {
            return SubscriptionEndReason.WriteFailed;
        }

        metrics.Delivered(batch.Count, bytes);
        var written = settings.Time.GetUtcNow();
        foreach (var item in batch)
        {
            metrics.DeliveryLatency(item.Published, written);
        }

        return SubscriptionEndReason.ClientGone;
    }

    /// <summary>
    /// What the subscription took stays unacknowledged while polls do not name it (or leave before their answer): once
    /// the oldest of it is older than <c>poll.ack_timeout</c>, this poll is the subscription's last, so that the broker
    /// gets it back before its <c>consumer_timeout</c> closes the channel (and, on a shared channel, every other stream
    /// on it). The next poll opens the queue afresh and gets the same messages with new ids.
    /// </summary>
    private void GiveBackWhenOverdue()
    {
        if (subscription.PendingSince is { } since && settings.Time.GetElapsedTime(since) >= options.AckTimeout)
        {
            subscription.GiveBack();
        }
    }

    /// <summary>The token expired while the poll waited: 401, so that the client polls again with a new one.</summary>
    public async Task NotifyEndAsync(SubscriptionEndReason reason, CancellationToken cancellationToken)
    {
        if (reason != SubscriptionEndReason.TokenExpired || context.Response.HasStarted)
        {
            return;
        }

        const string Why = "token expired";
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\", error_description=\"token expired\"";
        context.Response.Headers[StatusReason.Header] = Why;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(Why + "\n", cancellationToken);
    }

    /// <summary>How long an answer that is not full waits for the rest of a burst of deliveries.</summary>
    internal static readonly TimeSpan GatherWindow = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// After the first message: what the broker sends with it (a queue's backlog comes as a burst of
    /// deliveries, one after the other) joins the same answer, for up to <see cref="GatherWindow"/>, rather than
    /// costing the client a poll each.
    /// </summary>
    private async Task GatherAsync(List<OutboundItem> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0 || batch.Count >= maxMessages || subscription.EndReason is not null)
        {
            return;
        }

        using var window = new CancellationTokenSource(GatherWindow, settings.Time);
        using var gathering = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, window.Token);
        try
        {
            while (batch.Count < maxMessages && await subscription.Items.WaitToReadAsync(gathering.Token))
            {
                Take(batch);
            }
        }
        catch (OperationCanceledException) when (gathering.IsCancellationRequested)
        {
            // The burst is over: answer with what came (or, if the poll is ending, keep it: the caller looks).
        }
    }

    /// <summary>Moves what is waiting into <paramref name="batch"/>, up to the poll's <c>?max=</c> or <c>poll.max_messages</c>.</summary>
    private void Take(List<OutboundItem> batch)
    {
        while (batch.Count < maxMessages && subscription.Items.TryRead(out var item))
        {
            if (item.IsMessage)
            {
                batch.Add(item);
            }
            else
            {
                subscription.Taken(item);
            }
        }
    }

    /// <summary>Writes the answer; false when it did not reach the client (gone, or slower than <c>server.write_timeout</c>).</summary>
    private async Task<bool> WriteAsync(IReadOnlyList<OutboundItem> batch)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        long length = 2 + Math.Max(0, batch.Count - 1);
        foreach (var item in batch)
        {
            length += item.Length;
        }

        response.ContentLength = length;
        var writer = response.BodyWriter;
        writer.Write("["u8);
        for (var i = 0; i < batch.Count; i++)
        {
            if (i > 0)
            {
                writer.Write(","u8);
            }

            writer.Write(batch[i].Frame);
        }

        writer.Write("]"u8);
        try
        {
            var result = await writer.FlushAsync().AsTask().WaitAsync(settings.WriteTimeout, settings.Time);
            return !result.IsCanceled;
        }
        catch (TimeoutException)
        {
            context.Abort();
            return false;
        }
        catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task WriteQuietlyAsync(IReadOnlyList<OutboundItem> batch)
    {
        if (!context.Response.HasStarted)
        {
            await WriteAsync(batch);
        }
    }

    /// <summary>The broker ended the subscription (channel or connection lost, queue deleted): 503, and nothing acknowledged.</summary>
    private async Task<SubscriptionEndReason> BrokerEndedAsync()
    {
        var reason = subscription.EndReason ?? SubscriptionEndReason.ChannelClosed;
        if (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            const string Why = "the broker ended the subscription; poll again";
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers[StatusReason.Header] = Why;
            context.Response.Headers.RetryAfter = SubscriptionGate.BrokerRetryAfter;
            context.Response.Headers.CacheControl = "no-store";
            context.Response.ContentType = "text/plain; charset=utf-8";
            try
            {
                await context.Response.WriteAsync(Why + "\n");
            }
            catch (Exception ex) when (ex is IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or OperationCanceledException)
            {
                // The client left meanwhile.
            }
        }

        return reason;
    }
}
