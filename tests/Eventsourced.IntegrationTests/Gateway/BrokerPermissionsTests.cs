using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Eventsourced.IntegrationTests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Eventsourced.IntegrationTests.Gateway;

/// <summary>
/// The narrow broker permissions the README recommends: a queue name prefix in <c>queue.pattern</c> and a broker user
/// whose permissions are limited to it. What the broker refuses reaches the client as a plain reason; the broker's
/// words (user, vhost, node) stay in the gateway's log.
/// </summary>
[Collection(BrokerLifecycleCollection.Name)]
public sealed class BrokerPermissionsTests(BrokerFixture broker) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly string _user = $"es-limited-{Guid.NewGuid():N}"[..24];
    private readonly string _password = $"pw-{Guid.NewGuid():N}";
    private readonly string _prefix = $"app{Guid.NewGuid():N}"[..12] + ".";
    private string _vhost = "/";

    public async Task InitializeAsync()
    {
        var url = new Uri(broker.AmqpUrl);
        _vhost = url.AbsolutePath is "/" or "" ? "/" : Uri.UnescapeDataString(url.AbsolutePath[1..]);
        await broker.Rabbitmqctl.RunCheckedAsync(["add_user", _user, _password]);
        // configure, write, read: only queues named with the prefix.
        var regex = "^" + _prefix.Replace(".", "\\.", StringComparison.Ordinal);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, _user, regex, regex, regex]);
    }

    public async Task DisposeAsync() => await broker.Rabbitmqctl.RunAsync(["delete_user", _user]);

    private string LimitedUrl => new UriBuilder(broker.AmqpUrl) { UserName = _user, Password = _password }.Uri.ToString();

    [Fact]
    public async Task LimitedUser_WithPrefixedPattern_Streams()
    {
        await using var amqp = await broker.ConnectAsync(nameof(LimitedUser_WithPrefixedPattern_Streams));
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o => o.Queue.Pattern = _prefix + "${query:id}");
        var id = Guid.NewGuid().ToString("N");

        await using var sse = await gateway.SubscribeAsync($"/?id={id}");
        Assert.Equal(HttpStatusCode.OK, sse.Status);
        await amqp.PublishAsync(_prefix + id, "for the limited user");

        Assert.Equal(["for the limited user"], await sse.ReadEventsAsync(1, Patience));
    }

    /// <summary>
    /// A user with the README's permissions but none on <c>events.exchange</c>: every presence event is refused, and each
    /// was logged twice (event 610, the publish and its retry), so that every subscribe and every leave wrote two warnings.
    /// The first is logged, the rest counted once per 10 s (event 613); the streams are not affected.
    /// </summary>
    [Fact]
    public async Task LimitedUser_PresenceExchangeRefused_IsLoggedOnce_NotPerEvent()
    {
        const int Streams = 10;
        var log = new CollectedLog();
        await using var amqp = await broker.ConnectAsync(nameof(LimitedUser_PresenceExchangeRefused_IsLoggedOnce_NotPerEvent));
        await using (var gateway = await GatewayServer.StartAsync(LimitedUrl, o =>
        {
            o.Queue.Pattern = _prefix + "${query:id}";
            o.Events.Exchange = $"presence-{Guid.NewGuid():N}";
        }, log))
        {
            for (var i = 0; i < Streams; i++)
            {
                var id = Guid.NewGuid().ToString("N");
                await using var sse = await gateway.SubscribeAsync($"/?id={id}");
                Assert.Equal(HttpStatusCode.OK, sse.Status);
                await amqp.PublishAsync(_prefix + id, "still streams");
                Assert.Equal(["still streams"], await sse.ReadEventsAsync(1, Patience));
            }

            await Wait.UntilAsync(
                async () => await gateway.MetricAsync("eventsourced_presence_events_total{outcome=\"dropped\"}") >= 2 * Streams,
                Patience, "every presence event dropped");
            var first = Assert.Single(log.Entries, e => e.EventId == 610);
            Assert.Contains("ACCESS_REFUSED", first.Message, StringComparison.Ordinal);
        }

        // Stopping writes what was counted since the last summary (a slow run may have had one more, at its interval):
        // one refusal per event, each on one channel. A refusal was retried on a second channel, as a dropped
        // connection is, and refused again (twice the refusals, twice the channels).
        var repeated = log.Entries.Where(e => e.EventId == 613)
            .Select(e => int.Parse(Regex.Match(e.Message, " ([0-9]+) more times in the last ").Groups[1].Value, CultureInfo.InvariantCulture))
            .ToList();
        Assert.NotEmpty(repeated);
        Assert.Equal((2 * Streams) - 1, repeated.Sum());
    }

    [Fact]
    public async Task LimitedUser_SharingChannels_MayNotDeclareLocks_IsRefusedAsSuch_NotAsBusy()
    {
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o =>
        {
            o.Queue.Pattern = _prefix + "${query:id}";
            o.Broker.SubscribersPerChannel = 64;
        });

        using var response = await gateway.Client.GetAsync($"/?id={Guid.NewGuid():N}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("broker refused the subscription", response.Headers.GetValues("X-Status-Reason").Single());
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "channel released");
    }

    [Fact]
    public async Task LimitedUser_SharingChannels_WithConfigureOnLocks_Streams_AndDeletesItsLockOnLeaving()
    {
        // As the README's "Broker permissions" says for broker.subscribers_per_channel above 1.
        var regex = "^" + _prefix.Replace(".", "\\.", StringComparison.Ordinal);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, _user, $"{regex}|^eventsourced\\.lock\\.", regex, regex]);
        await using var amqp = await broker.ConnectAsync(nameof(LimitedUser_SharingChannels_WithConfigureOnLocks_Streams_AndDeletesItsLockOnLeaving));
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o =>
        {
            o.Queue.Pattern = _prefix + "${query:id}";
            o.Broker.SubscribersPerChannel = 64;
        });
        var id = Guid.NewGuid().ToString("N");

        await using (var sse = await gateway.SubscribeAsync($"/?id={id}"))
        {
            Assert.Equal(HttpStatusCode.OK, sse.Status);
            await amqp.PublishAsync(_prefix + id, "for the limited user");
            Assert.Equal(["for the limited user"], await sse.ReadEventsAsync(1, Patience));
        }

        var lockName = Eventsourced.Consuming.QueueLock.NameFor(_prefix + id);
        await Wait.UntilAsync(
            async () => !(await broker.Rabbitmqctl.ListAsync("list_queues", ["name"])).Any(row => row.GetProperty("name").GetString() == lockName),
            Patience, "the lock deleted");
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "channels released");
    }

    /// <summary>
    /// The operator takes configure on <c>eventsourced.lock.</c> away while streams share a channel. A stream that leaves
    /// then has its lock delete refused (403): on the shared channel, that channel error ended every other stream on
    /// it (`: stream ended: broker closed the subscription`), which had nothing to do with the refusal.
    /// </summary>
    [Fact]
    public async Task LimitedUser_SharingChannels_LockConfigureRevoked_OneLeaving_DoesNotEndTheOthers()
    {
        var regex = "^" + _prefix.Replace(".", "\\.", StringComparison.Ordinal);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, _user, $"{regex}|^eventsourced\\.lock\\.", regex, regex]);
        var log = new CollectedLog();
        await using var amqp = await broker.ConnectAsync(nameof(LimitedUser_SharingChannels_LockConfigureRevoked_OneLeaving_DoesNotEndTheOthers));
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o =>
        {
            o.Queue.Pattern = _prefix + "${query:id}";
            o.Broker.SubscribersPerChannel = 64;
        }, log);
        var stays = Guid.NewGuid().ToString("N");
        var leaves = Guid.NewGuid().ToString("N");
        await using var staying = await gateway.SubscribeAsync($"/?id={stays}");
        Assert.Equal(HttpStatusCode.OK, staying.Status);
        await using (var leaving = await gateway.SubscribeAsync($"/?id={leaves}"))
        {
            Assert.Equal(HttpStatusCode.OK, leaving.Status);
            await amqp.PublishAsync(_prefix + leaves, "before");
            Assert.Equal(["before"], await leaving.ReadEventsAsync(1, Patience));

            // Configure on the queues only, as before the README's line for shared channels.
            await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, _user, regex, regex, regex]);
        }

        // The leaver's lock delete is refused, and logged (event 309) ...
        await Wait.UntilAsync(
            () => Task.FromResult(log.Entries.Any(e => e.EventId == 309 && e.Message.Contains("ACCESS_REFUSED", StringComparison.Ordinal))),
            Patience, "the refused lock delete logged");

        // ... and the stream that stays goes on.
        await amqp.PublishAsync(_prefix + stays, "after");
        Assert.Equal(["after"], await staying.ReadEventsAsync(1, Patience));
        Assert.DoesNotContain("stream ended", staying.RawText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LimitedUser_QueueOutsideItsPermissions_IsRefusedWithAPlainReason_AndTheLogHasTheDetail()
    {
        var log = new CollectedLog();
        var options = new Eventsourced.Configuration.GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Server.HeartbeatSeconds = 0;
        options.Broker.Node = [LimitedUrl];
        options.Queue.Pattern = "${query:id}";
        await using var gateway = await GatewayServer.StartAsync(options, log);

        using var response = await gateway.Client.GetAsync($"/?id=other-{Guid.NewGuid():N}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var reason = response.Headers.GetValues("X-Status-Reason").Single();
        Assert.Equal("broker refused the subscription", reason);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain(_user, body, StringComparison.Ordinal);
        Assert.DoesNotContain("ACCESS_REFUSED", body, StringComparison.Ordinal);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("ACCESS_REFUSED", StringComparison.Ordinal) && e.Message.Contains(_user, StringComparison.Ordinal));
        await Wait.UntilAsync(() => Task.FromResult(gateway.Pool.Slots.Sum(s => s.Leases) == 0), Patience, "channel released");
    }
    /// <summary>
    /// A topic whose stream the broker user may not declare: events 306 and 310 name it a topic (they said "queue" for
    /// topics too, sending whoever read the log to look for a client queue of that name).
    /// </summary>
    [Fact]
    public async Task LimitedUser_TopicOutsideItsPermissions_IsLoggedAsATopic_NotAQueue()
    {
        var log = new CollectedLog();
        var options = new Eventsourced.Configuration.GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Server.HeartbeatSeconds = 0;
        options.Broker.Node = [LimitedUrl];
        options.Queue.Pattern = _prefix + "${query:id}";
        var topic = $"t{Guid.NewGuid():N}"[..12];
        await using (var gateway = await GatewayServer.StartAsync(options, log))
        {
            for (var i = 0; i < 2; i++)
            {
                using var refused = await gateway.Client.GetAsync($"/topics/{topic}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            }
        }

        // The repeat is summed up when the gateway stops, if not before.

        var first = Assert.Single(log.Entries, e => e.EventId == 306 && e.Message.Contains(topic, StringComparison.Ordinal));
        Assert.StartsWith($"Subscription to topic {topic} refused: ", first.Message, StringComparison.Ordinal);
        var repeated = Assert.Single(log.Entries, e => e.EventId == 310 && e.Message.Contains(topic, StringComparison.Ordinal));
        Assert.StartsWith($"Subscription to topic {topic} refused 1 more times", repeated.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A topic with a long name that the broker refuses, read by a page's WebSocket with <c>ws.close_refusals</c>: the close
    /// reason ends with when to try again (<c>; retry after 5 s</c>, what the README's <c>reconnectWithBackoff</c> reads),
    /// the name cut to make room. It was cut with the name, and such a page reconnected after its own backoff instead.
    /// </summary>
    [Fact]
    public async Task LimitedUser_LongTopicNameOutsideItsPermissions_WebSocketCloseStillSaysWhenToTryAgain()
    {
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o =>
        {
            o.Queue.Pattern = _prefix + "${query:id}";
            o.Ws.CloseRefusals = true;
        });
        var topic = $"t{Guid.NewGuid():N}" + new string('x', 150);

        using (var refused = await gateway.Client.GetAsync($"/topics/{topic}"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("5", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(CultureInfo.InvariantCulture));
        }

        await using var ws = await gateway.ConnectWebSocketAsync($"/ws/topics/{topic}");
        Assert.True(ws.Connected, $"{ws.Status} {ws.Reason}");
        await ws.WaitForCloseAsync(Patience);

        Assert.Equal(4503, (int?)ws.CloseStatus);
        Assert.NotNull(ws.CloseDescription);
        Assert.StartsWith($"broker refused topic '{topic[..40]}", ws.CloseDescription, StringComparison.Ordinal);
        Assert.EndsWith("...; retry after 5 s", ws.CloseDescription, StringComparison.Ordinal);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(ws.CloseDescription) <= 123, ws.CloseDescription);
    }

    /// <summary>
    /// A user that may declare the gateway's lock queues but not a topic's stream: the refused declare closes the
    /// channel, not the stream's creation lock (an exclusive queue of the connection), which is given up all the same,
    /// so that other gateways do not wait for it.
    /// </summary>
    [Fact]
    public async Task LockingUser_TopicOutsideItsPermissions_LeavesNoCreationLock()
    {
        var regex = "^" + _prefix.Replace(".", "\\.", StringComparison.Ordinal);
        await broker.Rabbitmqctl.RunCheckedAsync(["set_permissions", "-p", _vhost, _user, regex + "|^eventsourced\\.lock\\.", regex, regex]);
        var topic = $"t{Guid.NewGuid():N}"[..12];
        await using var gateway = await GatewayServer.StartAsync(LimitedUrl, o => o.Queue.Pattern = _prefix + "${query:id}");

        using var refused = await gateway.Client.GetAsync($"/topics/{topic}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var creationLock = Eventsourced.Topics.StreamCreationLock.NameFor(Eventsourced.Topics.TopicOptions.DefaultPrefix + topic);
        Assert.Null(await broker.Rabbitmqctl.FindQueueAsync(creationLock));
    }

    /// <summary>
    /// RabbitMQ closes a connection right after opening it (530 NOT_ALLOWED) when its vhost does not exist or the user
    /// may not use it: the gateway backs off as after a failed attempt, instead of taking each such connection for one
    /// that was up and reconnecting (and logging both) several times a second; and it logs each as an attempt that
    /// failed (event 201, naming the refusal), never as connected (200) and lost (202).
    /// </summary>
    [Fact]
    public async Task VhostRefused_RightAfterOpening_IsRetriedWithBackoff_NotSeveralTimesASecond()
    {
        var log = new CollectedLog();
        var options = new Eventsourced.Configuration.GatewayOptions();
        options.Server.Address = "127.0.0.1:0";
        options.Broker.Node = [new UriBuilder(broker.AmqpUrl) { Path = $"/no-such-vhost-{Guid.NewGuid():N}" }.Uri.ToString()];
        await using var gateway = await GatewayServer.StartAsync(options, log);

        await Wait.UntilAsync(
            () => Task.FromResult(log.Entries.Any(e => e.EventId == 201 && e.Message.Contains("closed right after opening: 530 NOT_ALLOWED", StringComparison.Ordinal))),
            Patience, "the broker closed the connection (event 201, NOT_ALLOWED)");
        await Task.Delay(TimeSpan.FromSeconds(5));

        // Backoff from 0.5 s doubling: at most 5 attempts in the first 5 s; without it, one every 0.25-0.5 s.
        var attempts = log.Entries.Count(e => e.EventId == 201);
        Assert.True(attempts <= 6, $"{attempts} connections attempted in about 5 s:\n" + string.Join("\n", log.Entries.Where(e => e.EventId is 200 or 201 or 202).Select(e => e.Message)));
        Assert.DoesNotContain(log.Entries, e => e.EventId is 200 or 202);
    }

    /// <summary>
    /// The broker's refusal names the user it refused. A password that is also the user's name (RabbitMQ's default
    /// guest:guest, a development user made so) was masked wherever it appeared, so the one line that says which user may
    /// not use the vhost named none, and told its reader that the password is that name.
    /// </summary>
    [Fact]
    public async Task VhostRefused_UserWhosePasswordIsItsName_TheLogNamesTheUser_AndNoMaskTellsThePassword()
    {
        var user = $"es-same-{Guid.NewGuid():N}"[..20];
        await broker.Rabbitmqctl.RunCheckedAsync(["add_user", user, user]);
        try
        {
            var log = new CollectedLog();
            var options = new Eventsourced.Configuration.GatewayOptions();
            options.Server.Address = "127.0.0.1:0";
            options.Broker.Node = [new UriBuilder(broker.AmqpUrl) { UserName = user, Password = user }.Uri.ToString()];
            await using var gateway = await GatewayServer.StartAsync(options, log);

            await Wait.UntilAsync(
                () => Task.FromResult(log.Entries.Any(e => e.EventId == 201 && e.Message.Contains("530 NOT_ALLOWED", StringComparison.Ordinal))),
                Patience, "the broker refused the vhost (event 201, NOT_ALLOWED)");

            var line = log.Entries.First(e => e.EventId == 201 && e.Message.Contains("530 NOT_ALLOWED", StringComparison.Ordinal)).Message;
            Assert.Contains($"refused for user '{user}'", line, StringComparison.Ordinal);
            Assert.DoesNotContain("***", line, StringComparison.Ordinal);
        }
        finally
        {
            await broker.Rabbitmqctl.RunAsync(["delete_user", user]);
        }
    }
}
