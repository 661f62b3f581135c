using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Eventsourced.Consuming;
using Eventsourced.Hosting;
using Eventsourced.Http;
using Eventsourced.LongPolling;
using Eventsourced.Metrics;
using Eventsourced.Sse;
using Eventsourced.Tests.Metrics;
using Eventsourced.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;

namespace Eventsourced.Tests.LongPolling;

/// <summary>
/// One poll against a subscription of our own making (its buffer filled by the test): what a poll that ends
/// before it answers leaves for the next one. The broker side of the same promises is in the integration tests.
/// </summary>
public sealed class PollSessionTests
{
    private const string Nonce = "n0nce";

    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(new LongPollingOptions().AckTimeoutSeconds);

    private readonly FakeTimeProvider _time = new();
    private readonly TestMetrics _metrics = new();
    private readonly Buffered _queue = new();

    [Fact]
    public async Task ClientLeavesWhileTheAnswerIsGathered_TheNextPollAnswersWhatWasTaken_AndNothingIsAcknowledgedUnseen()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "first");
        await LeaveWhileGatheringAsync(subscription);

        _queue.Deliver(2, "second");
        var answer = await PollAsync(subscription, ack: null);
        Assert.Equal(["first", "second"], answer.Select(m => m.Data));
        Assert.Empty(_queue.Acknowledged);

        // Acknowledging that answer acknowledges up to its last tag, which covers exactly what the client saw.
        _queue.Deliver(3, "third");
        var after = await PollAsync(subscription, ack: answer[^1].Id);
        Assert.Equal([(2ul, true)], _queue.Acknowledged);
        Assert.Equal(["third"], after.Select(m => m.Data));
    }

    [Fact]
    public async Task ClientLeavesWhileTheAnswerIsGathered_AndTheSubscriptionEnds_WhatWasTakenCountsAsRequeued()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "first");
        await LeaveWhileGatheringAsync(subscription);

        await subscription.DisposeAsync();

        Assert.Equal(1, _metrics.Scrape().Value("eventsourced_messages_requeued_total", ("reason", RequeueReasons.PollUnacknowledged)));
        Assert.Empty(_queue.Acknowledged);
    }

    [Fact]
    public async Task AnswerWritten_ThenAPollWithoutTheAck_GetsTheSameAnswer_NothingAdded()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "first");
        var answer = await PollAsync(subscription, ack: null);
        Assert.Equal(["first"], answer.Select(m => m.Data));

        _queue.Deliver(2, "second");
        var again = await PollAsync(subscription, ack: "an-old-id");

        Assert.Equal(answer, again);
        Assert.Empty(_queue.Acknowledged);
    }

    [Fact]
    public async Task AnswerUnacknowledgedForTheAckTimeout_IsAnsweredOnceMore_ThenTheSubscriptionIsGivenBack()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "first");
        var answer = await PollAsync(subscription, ack: null);

        // Polls that keep not naming it, within the timeout: the same answer, the subscription still held.
        _time.Advance(AckTimeout - TimeSpan.FromSeconds(1));
        Assert.Equal(answer, await PollAsync(subscription, ack: null));
        Assert.Null(subscription.EndReason);

        // Past it: answered once more, then ended, so that the broker gets it back long before its consumer_timeout.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(answer, await PollAsync(subscription, ack: "an-old-id"));
        Assert.Equal(SubscriptionEndReason.AckTimeout, subscription.EndReason);
        Assert.Empty(_queue.Acknowledged);
    }

    [Fact]
    public async Task ClientsLeavingBeforeTheirAnswerForTheAckTimeout_TheSubscriptionIsGivenBack()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "first");
        await LeaveWhileGatheringAsync(subscription);

        _time.Advance(AckTimeout - TimeSpan.FromSeconds(1));
        await LeaveWhileGatheringAsync(subscription);
        Assert.Null(subscription.EndReason);

        _time.Advance(TimeSpan.FromSeconds(1));
        await LeaveWhileGatheringAsync(subscription);
        Assert.Equal(SubscriptionEndReason.AckTimeout, subscription.EndReason);
        Assert.Empty(_queue.Acknowledged);
    }

    [Fact]
    public async Task AnswerAcknowledgedAfterPollsWithoutIt_TheClockStartsOver_TheNextAnswerIsKept()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        _queue.Deliver(1, "one");
        var first = await PollAsync(subscription, ack: null);
        _time.Advance(AckTimeout - TimeSpan.FromSeconds(1));
        Assert.Equal(first, await PollAsync(subscription, ack: null));

        // Acknowledged just in time: the next answer is new, and its clock starts now.
        _queue.Deliver(2, "two");
        _time.Advance(TimeSpan.FromSeconds(2));
        var second = await PollAsync(subscription, ack: first[^1].Id);
        Assert.Equal(["two"], second.Select(m => m.Data));
        Assert.Null(subscription.EndReason);
        Assert.Equal([(1ul, true)], _queue.Acknowledged);
    }

    /// <summary>
    /// An ack of an earlier id of the answer acknowledges up to it (one multiple ack of its tag, covering only what the client
    /// saw); the rest comes first in the next answer, ids and all, before what a smaller <c>?max=</c> left and what is new.
    /// </summary>
    [Fact]
    public async Task AckOfAnEarlierIdOfTheAnswer_AcknowledgesUpToIt_TheRestComesFirst_InOrder()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        foreach (var (tag, body) in new[] { (1ul, "a"), (2ul, "b"), (3ul, "c"), (4ul, "d") })
        {
            _queue.Deliver(tag, body);
        }

        var answer = await PollAsync(subscription, ack: null);
        Assert.Equal(["a", "b", "c", "d"], answer.Select(m => m.Data));
        var cut = await PollAsync(subscription, ack: null, max: 3);
        Assert.Equal(answer.Take(3), cut);

        _queue.Deliver(5, "e");
        var next = await PollAsync(subscription, ack: cut[0].Id);
        Assert.Equal([(1ul, true)], _queue.Acknowledged);
        Assert.Equal(answer.Skip(1), next.Take(3));
        Assert.Equal(["b", "c", "d", "e"], next.Select(m => m.Data));

        Assert.Empty(await PollAsync(subscription, ack: next[^1].Id, max: 1));
        Assert.Equal([(1ul, true), (5ul, true)], _queue.Acknowledged);
    }

    /// <summary>
    /// An answer cut by a smaller <c>?max=</c> leaves the rest for the next answer; a poll that takes part of that rest
    /// and loses its client before answering puts it back in front of the rest, so nothing is skipped or reordered.
    /// </summary>
    [Fact]
    public async Task AnswerCutByASmallerMax_TheRestComesNext_InOrder_EvenAfterAPollThatLeft()
    {
        var subscription = new PollSubscription(_queue, Nonce, _metrics.Gateway);
        for (var tag = 1ul; tag <= 5; tag++)
        {
            _queue.Deliver(tag, $"m{tag}");
        }

        var first = await PollAsync(subscription, ack: null, max: 4);
        Assert.Equal(["m1", "m2", "m3", "m4"], first.Select(m => m.Data));
        var cut = await PollAsync(subscription, ack: null, max: 1);
        Assert.Equal(first.Take(1), cut);

        // Acknowledges m1, takes m2 and m3 of the rest, and its client is gone before the answer.
        using var gone = new CancellationTokenSource();
        await gone.CancelAsync();
        var (context, _) = Request();
        Assert.Equal(SubscriptionEndReason.ClientGone, await Session(context, subscription, cut[^1].Id, max: 2).RunAsync(gone.Token));
        Assert.Equal([(1ul, true)], _queue.Acknowledged);

        var next = await PollAsync(subscription, ack: null, max: 10);
        Assert.Equal(["m2", "m3", "m4", "m5"], next.Select(m => m.Data));
        Assert.Equal(first.Skip(1), next.Take(3));
    }

    [Theory]
    [InlineData(null, 100)]
    [InlineData("1", 1)]
    [InlineData("007", 7)]
    [InlineData("100", 100)]
    [InlineData("101", 100)]
    [InlineData("99999999999999999999999", 100)]
    public void TryMaxMessages_AWholeNumberFromOne_IsAtMostTheConfiguredMaximum(string? query, int expected)
    {
        Assert.True(PollEndpoint.TryMaxMessages(query is null ? default : new Microsoft.Extensions.Primitives.StringValues(query), 100, out var max, out _));
        Assert.Equal(expected, max);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("")]
    [InlineData("-3")]
    [InlineData(" 3")]
    [InlineData("3 ")]
    [InlineData("٣")]
    [InlineData("0x10")]
    public void TryMaxMessages_AnythingElse_IsRefused(string query)
    {
        Assert.False(PollEndpoint.TryMaxMessages(new Microsoft.Extensions.Primitives.StringValues(query), 100, out _, out var problem));
        Assert.StartsWith("query parameter 'max' must be a whole number from 1", problem, StringComparison.Ordinal);
    }

    /// <summary>
    /// A poll that takes what waits and, while it waits for the rest of the burst (the gather window, which the fake
    /// clock holds open), loses its client: it ends without an answer.
    /// </summary>
    private async Task LeaveWhileGatheringAsync(PollSubscription subscription)
    {
        using var leaving = new CancellationTokenSource();
        var (context, _) = Request();
        var poll = Session(context, subscription, ack: null).RunAsync(leaving.Token);
        Assert.False(poll.IsCompleted);
        await leaving.CancelAsync();
        Assert.Equal(SubscriptionEndReason.ClientGone, await poll);
        Assert.False(context.Response.HasStarted);
    }

    /// <summary>A poll that runs to its answer (the gather window run out on the fake clock); the answer's messages.</summary>
    private async Task<List<(string Id, string Data)>> PollAsync(PollSubscription subscription, string? ack, int max = 100)
    {
        var (context, body) = Request();
        var poll = Session(context, subscription, ack, max).RunAsync(CancellationToken.None);
        _time.Advance(PollSession.GatherWindow);
        Assert.Equal(SubscriptionEndReason.ClientGone, await poll.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        return Answer(body);
    }

    private PollSession Session(HttpContext context, PollSubscription subscription, string? ack, int max = 100) =>
        new(context, subscription, ack, max, new PollSessionOptions(new LongPollingOptions { WaitSeconds = 0 }), Settings(), _metrics.Gateway);

    private SubscriptionSettings Settings() => new(
        Options.Create(new ServerOptions()), Options.Create(new HeaderOptions()), Options.Create(new SseOptions()), _time, new ShutdownDrain(Options.Create(new ServerOptions()), new Lifetime()));

    private static (HttpContext Context, MemoryStream Body) Request()
    {
        var body = new MemoryStream();
        var context = new DefaultHttpContext();
        context.Response.Body = body;
        return (context, body);
    }

    private static List<(string Id, string Data)> Answer(MemoryStream body)
    {
        using var json = JsonDocument.Parse(body.ToArray());
        return [.. json.RootElement.EnumerateArray().Select(m => (m.GetProperty("id").GetString()!, m.GetProperty("data").GetString()!))];
    }

    /// <summary>A queue subscription's buffer, filled by the test; what is acknowledged is recorded.</summary>
    private sealed class Buffered : ISubscription
    {
        private readonly Channel<OutboundItem> _items = Channel.CreateUnbounded<OutboundItem>();

        public List<(ulong Tag, bool Multiple)> Acknowledged { get; } = [];

        public string Name => "q";

        public string Node => "-";

        public ChannelReader<OutboundItem> Items => _items.Reader;

        public SubscriptionEndReason? EndReason => null;

        public void Deliver(ulong tag, string body) =>
            _items.Writer.TryWrite(JsonMessage.Frame(tag, Nonce, Encoding.UTF8.GetBytes(body), new BasicProperties(), MessageTimestamp.None));

        public void QueueHeartbeat()
        {
        }

        public void QueueWakeup()
        {
        }

        public void Taken(OutboundItem control)
        {
        }

        public void Stop() => _items.Writer.TryComplete();

        public ValueTask AcknowledgeAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default)
        {
            Acknowledged.Add((tag, multiple));
            return ValueTask.CompletedTask;
        }

        public ValueTask RequeueAsync(ulong tag, bool multiple, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Lifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
