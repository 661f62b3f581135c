using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using Eventsourced.Configuration;
using Eventsourced.EndToEndTests.Infrastructure;
using Eventsourced.Testing.Tokens;
using Microsoft.Playwright;
using RabbitMQ.Client;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// <c>examples/chat</c>: its page in Chromium against a gateway configured by its <c>config.yml</c>, nothing else but
/// RabbitMQ. Two users in two pages see each other come, talk and go; a reload brings the conversation back.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ChatExampleTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>How long a page may take to show a leave: the page's LEAVE_GRACE (10 s) after the gateway saw the sockets go.</summary>
    private const float LeaveTimeout = 30_000;

    [Fact]
    public async Task TwoUsers_SeeEachOthersMessagesJoinAndLeave_AndTheConversationAfterAReload()
    {
        await using var chat = await StartChatAsync();
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await alicePage.GotoAsync(chat.Url(alice));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(alicePage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined"]);

        await bobPage.GotoAsync(chat.Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        // Each sees the other come: alice through bob's presence event, bob through alice's "here".
        await Expect(alicePage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined", $"{bob} joined"]);
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);

        // Each sees the other's messages (and its own), in the same order.
        await SayAsync(alicePage, "hello bob <b>not bold</b>");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}hello bob <b>not bold</b>"]);
        await SayAsync(bobPage, "hi alice, Grüße 🎉");
        string[] conversation = [$"{alice}hello bob <b>not bold</b>", $"{bob}hi alice, Grüße 🎉"];
        await Expect(alicePage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        Assert.Equal(0, await alicePage.Locator("#messages b b").CountAsync()); // text, never markup

        // A reload reads the room again: the conversation is back, and alice is seen online again.
        await bobPage.ReloadAsync();
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);

        // Back within LEAVE_GRACE: alice never saw bob leave, so she sees no second join either. What bob says after
        // the reload comes after any join line his page published, on the same socket into the same stream.
        await SayWhenConnectedAsync(bobPage, "back");
        string[] joins = [$"{alice} joined", $"{bob} joined"];
        await Expect(alicePage.Locator("#messages li[data-kind=message]").Last).ToHaveTextAsync($"{bob}back");
        await Expect(bobPage.Locator("#messages li[data-kind=message]").Last).ToHaveTextAsync($"{bob}back");
        Assert.Equal(joins, await alicePage.Locator("#messages li[data-kind=join]").AllTextContentsAsync());
        Assert.Equal(joins, await bobPage.Locator("#messages li[data-kind=join]").AllTextContentsAsync());
        Assert.Equal(0, await alicePage.Locator("#messages li[data-kind=leave]").CountAsync());

        // bob leaves: alice sees it.
        // (after the page's LEAVE_GRACE, 10 s, in which a reconnect would have cancelled it).
        await bobPage.Context.CloseAsync();
        await Expect(alicePage.Locator("#messages li[data-kind=leave]").Last).ToHaveTextAsync($"{bob} left", new() { Timeout = LeaveTimeout });
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(0);
        await Expect(alicePage.Locator($"#online li[data-user='{alice}']")).ToHaveTextAsync($"{alice} (you)");
    }

    [Fact]
    public async Task ANetworkThatWentDark_ThePageNoticesByItsPings_ReconnectsAndIsSeenBack_MessagesReachBothOnce()
    {
        // alice's network goes dark without a word (a proxy the test controls): the gateway drops her sockets, bob sees
        // her leave; her page heard nothing. Without pings of its own it stayed "open" for good after the network came
        // back: nobody saw her again, and what she typed went nowhere. Her page's clock is Playwright's (20 s pings).
        await using var chat = await StartChatAsync(configure: o =>
        {
            o.Server.HeartbeatSeconds = 1;
            o.Server.WriteTimeoutSeconds = 2;
        });
        await using var proxy = new DarkNetworkProxy(chat.Gateway.Port);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await alicePage.Clock.InstallAsync();
        await alicePage.GotoAsync(chat.Url(alice, port: proxy.Port));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(chat.Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        await alicePage.Clock.FastForwardAsync("00:20"); // a ping and its pong: the socket is alive
        await SayAsync(alicePage, "before");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}before"]);

        proxy.GoDark();
        await Expect(bobPage.Locator("#messages li[data-kind=leave]")).ToHaveTextAsync([$"{alice} left"], new() { Timeout = LeaveTimeout });
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(0);
        await SayAsync(bobPage, "while you were away");
        proxy.ComeBack();
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        // The next ping goes into the dark; at the turn after it the page closes both sockets and connects again.
        await alicePage.Clock.FastForwardAsync("00:20");
        await alicePage.Clock.FastForwardAsync("00:20");
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await SayWhenConnectedAsync(alicePage, "back");
        string[] conversation = [$"{alice}before", $"{bob}while you were away", $"{alice}back"];
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(alicePage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        Assert.True(proxy.Connections >= 4, $"{proxy.Connections} connections through the proxy");
    }

    /// <summary>
    /// README "Publishing": a publish unanswered when its connection ends may or may not have been published; a page
    /// sends it again with the same <c>message_id</c>, and readers drop the copy. The page showed "not confirmed
    /// (connection lost)" and sent nothing again: a line cut off before the gateway had it was lost for everyone.
    /// alice's inbox socket goes through a route the test controls: its first connection is cut as her line goes out
    /// (the gateway never gets it), her second after the gateway published her next line and before its answer.
    /// </summary>
    [Fact]
    public async Task ALineCutOffMidPublish_IsSentAgainWithItsMessageId_EveryoneSeesItOnce()
    {
        await using var chat = await StartChatAsync();
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        var inboxes = 0;
        var published = new List<string>(); // what alice's page sent through her inbox sockets, as sent
        await alicePage.RouteWebSocketAsync(url => url.Contains("/ws?user=", StringComparison.Ordinal), ws =>
        {
            var connection = Interlocked.Increment(ref inboxes);
            var server = ws.ConnectToServer();
            ws.OnMessage(frame =>
            {
                var text = frame.Text ?? "";
                lock (published)
                {
                    published.Add(text);
                }

                if (connection == 1 && text.Contains("lost on the way", StringComparison.Ordinal))
                {
                    // The network drops it, and the connection with it: the gateway never had this line.
                    _ = Task.Run(async () =>
                    {
                        await server.CloseAsync(new() { Code = 1000, Reason = "cut" });
                        await ws.CloseAsync(new() { Code = 1000, Reason = "cut" });
                    });
                    return;
                }

                server.Send(text);
            });
            server.OnMessage(frame =>
            {
                var text = frame.Text ?? "";
                bool sentIt;
                lock (published)
                {
                    sentIt = published.Exists(p => p.Contains("answer lost", StringComparison.Ordinal));
                }

                if (connection == 2 && sentIt && text.Contains("\"published\"", StringComparison.Ordinal))
                {
                    // Published, but the answer is lost with the connection.
                    // (the route's server side is a real socket of the page: a script may close it with 1000 or 3000-4999 only)
                    _ = Task.Run(async () =>
                    {
                        await server.CloseAsync(new() { Code = 1000, Reason = "cut" });
                        await ws.CloseAsync(new() { Code = 1000, Reason = "cut" });
                    });
                    return;
                }

                ws.Send(text);
            });
        });
        await alicePage.GotoAsync(chat.Url(alice));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(chat.Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);

        await SayAsync(alicePage, "lost on the way");
        await Wait.UntilAsync(async () => await chat.Amqp.ConsumerCountAsync($"chat.user.{alice}") is 0, Timeout, "the gateway let go of the cut inbox");
        await Wait.UntilAsync(() => Volatile.Read(ref inboxes) >= 2, Timeout, "alice's inbox connected again");
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}lost on the way"]);

        await SayWhenConnectedAsync(alicePage, "answer lost");
        await Wait.UntilAsync(() => Volatile.Read(ref inboxes) >= 3, Timeout, "alice's inbox connected a third time");
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await SayWhenConnectedAsync(alicePage, "done");

        // "answer lost" reached the room twice (before "done", on the same socket): each page shows it once.
        string[] conversation = [$"{alice}lost on the way", $"{alice}answer lost", $"{alice}done"];
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(alicePage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(conversation);
        await Expect(alicePage.Locator("#messages li[data-kind=error]")).ToHaveCountAsync(0);
        string[] sent;
        lock (published)
        {
            sent = [.. published.Where(p => p.Contains("answer lost", StringComparison.Ordinal))];
        }

        Assert.Equal(2, sent.Length);
        var ids = sent.Select(p => JsonDocument.Parse(p).RootElement.GetProperty("publish").GetProperty("message_id").GetString()).ToArray();
        Assert.False(string.IsNullOrEmpty(ids[0]));
        Assert.Equal(ids[0], ids[1]);
    }

    /// <summary>
    /// The join line, like any line, may be cut off mid-publish: the page took a join unanswered when its inbox closed
    /// as published, and a join the gateway never had was lost for everyone (nobody's room showed alice joining). It is
    /// sent again with its message_id, as lines are: lost on the first inbox, published on the second without its
    /// answer, sent a third time; every page shows it once.
    /// </summary>
    [Fact]
    public async Task AJoinCutOffMidPublish_IsSentAgainWithItsMessageId_EveryoneSeesItOnce()
    {
        await using var chat = await StartChatAsync();
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        var inboxes = 0;
        var joins = new List<string>(); // the join publishes alice's page sent through her inbox sockets
        await alicePage.RouteWebSocketAsync(url => url.Contains("/ws?user=", StringComparison.Ordinal), ws =>
        {
            var connection = Interlocked.Increment(ref inboxes);
            var server = ws.ConnectToServer();
            void Cut() => _ = Task.Run(async () =>
            {
                await server.CloseAsync(new() { Code = 1000, Reason = "cut" });
                await ws.CloseAsync(new() { Code = 1000, Reason = "cut" });
            });
            ws.OnMessage(frame =>
            {
                var text = frame.Text ?? "";
                var join = text.Contains("\"type\":\"join\"", StringComparison.Ordinal);
                if (join)
                {
                    lock (joins)
                    {
                        joins.Add(text);
                    }
                }

                if (connection == 1 && join)
                {
                    Cut(); // the network drops it, and the connection with it: the gateway never had the join
                    return;
                }

                server.Send(text);
            });
            server.OnMessage(frame =>
            {
                var text = frame.Text ?? "";
                if (connection == 2 && text.Contains("\"published\"", StringComparison.Ordinal))
                {
                    Cut(); // the join published, its answer lost with the connection
                    return;
                }

                ws.Send(text);
            });
        });
        await alicePage.GotoAsync(chat.Url(alice));
        await Wait.UntilAsync(() => Volatile.Read(ref inboxes) >= 2, Timeout, "alice's inbox connected again");
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await SayWhenConnectedAsync(alicePage, "here I am");
        await bobPage.GotoAsync(chat.Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}here I am"]);

        await Expect(bobPage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined", $"{bob} joined"]);
        await Expect(alicePage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined", $"{bob} joined"]);
        string[] sent;
        lock (joins)
        {
            sent = [.. joins];
        }

        Assert.Equal(3, sent.Length);
        var ids = sent.Select(p => JsonDocument.Parse(p).RootElement.GetProperty("publish").TryGetProperty("message_id", out var id) ? id.GetString() : null).ToArray();
        Assert.False(string.IsNullOrEmpty(ids[0]));
        Assert.All(ids, id => Assert.Equal(ids[0], id));
    }

    /// <summary>
    /// A room that fills at once: every page publishes its join line and tells each newcomer "here", and the gateway
    /// refuses what goes over ws.publish_rate (config.yml: 5 a second after a burst of 10; without tokens the pages of
    /// one address share it, so a few tabs of one browser reach it, and with tokens one user's page does once 20 tabs
    /// join within a second or two). The page took a refused join as done and ignored a refused "here": join lines
    /// were lost and newcomers never learnt of those who were there first (their online lists stayed short for good).
    /// Both are sent again once the rate allows; then half the tabs close and the others' lists come down to those
    /// left. The rate here is smaller (2 a second, a burst of 4), so that six pages go over it however fast this
    /// machine opens them.
    /// </summary>
    [Fact]
    public async Task ARoomFillingAtOnce_OverThePublishRate_EveryoneSeesEveryJoinAndEveryone_AndTheLeaves()
    {
        await using var chat = await StartChatAsync(configure: o =>
        {
            o.Ws.PublishRate = 2;
            o.Ws.PublishBurst = 4;
        });
        var users = Enumerable.Range(1, 6).Select(i => chat.User($"u{i}")).ToArray();
        var pages = await Task.WhenAll(users.Select(_ => chat.NewPageAsync()));
        await Task.WhenAll(pages.Select((page, i) => page.GotoAsync(chat.Url(users[i]))));
        var everyone = users.Order(StringComparer.Ordinal).ToArray();
        foreach (var page in pages)
        {
            await Expect(page.Locator("#online li")).ToHaveCountAsync(users.Length, new() { Timeout = 60_000 });
            Assert.Equal(everyone, await page.Locator("#online li").EvaluateAllAsync<string[]>("items => items.map(li => li.dataset.user)"));
            await Expect(page.Locator("#messages li[data-kind=join]")).ToHaveCountAsync(users.Length, new() { Timeout = 60_000 });
        }

        await Task.WhenAll(pages.Take(3).Select(page => page.Context.CloseAsync()));
        var left = users.Skip(3).Order(StringComparer.Ordinal).ToArray();
        foreach (var page in pages.Skip(3))
        {
            await Expect(page.Locator("#online li")).ToHaveCountAsync(left.Length, new() { Timeout = LeaveTimeout });
            Assert.Equal(left, await page.Locator("#online li").EvaluateAllAsync<string[]>("items => items.map(li => li.dataset.user)"));
            await Expect(page.Locator("#messages li[data-kind=leave]")).ToHaveCountAsync(3);
        }
    }

    [Fact]
    public async Task SecondPageOfOneUser_KeepsWhatWasTypedUntilItsInboxConnects_AndRefusedPublishesAreShown()
    {
        await using var chat = await StartChatAsync();
        var alice = chat.User("alice");
        var url = chat.Url(alice);
        var first = await chat.NewPageAsync();
        var second = await chat.NewPageAsync();
        await first.GotoAsync(url);
        await Expect(first.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        // The second page reads the room, but its inbox (alice's queue) is the first page's: it is not connected,
        // and what is typed there is kept, not sent into nothing.
        await second.GotoAsync(url);
        await Expect(second.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined"]);
        await SayAsync(second, "typed while not connected");
        await Expect(second.Locator("#status")).ToHaveAttributeAsync("data-state", "connecting");
        await Expect(second.Locator("#status")).ToContainTextAsync("queue is already being consumed"); // 4503's reason
        await Expect(second.Locator("#text")).ToHaveValueAsync("typed while not connected");

        // Once the first page is gone, the second one connects and sends it.
        await first.Context.CloseAsync();
        await Expect(second.Locator("#status")).ToHaveAttributeAsync("data-state", "open", new() { Timeout = 30_000 });
        await second.Locator("#send button").ClickAsync();
        await Expect(second.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}typed while not connected"]);
        await Expect(second.Locator("#text")).ToHaveValueAsync("");

        // More than ws.publish_burst (10) at once: the gateway refuses the rest, and the page says which.
        await second.EvaluateAsync(@"() => {
            for (let i = 1; i <= 15; i++) {
                document.getElementById('text').value = 'burst ' + i;
                document.getElementById('send').requestSubmit();
            }
        }");
        var refused = second.Locator("#messages li[data-kind=error]");
        await Expect(refused.First).ToContainTextAsync("not sent (");
        var shown = 0;
        for (var i = 0; i < 100 && shown != 16; i++)
        {
            await Task.Delay(100);
            shown = await second.Locator("#messages li[data-kind=message]").CountAsync() + await refused.CountAsync();
        }

        // Each of the 15 is either in the room or shown as not sent (besides the message before them).
        Assert.Equal(16, shown);
    }

    [Fact]
    public async Task WithTokens_AsItsConfigurationSays_TwoUsersTalk()
    {
        // config.yml's comment: a key, queue.pattern chat.user.${claim:sub}, tokens with sub, topics and publish claims.
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        string Url(string user) => chat.Url(user, "&token=" + ChatToken(user));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await alicePage.GotoAsync(Url(alice));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);

        await SayAsync(alicePage, "hello with a token");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}hello with a token"]);
    }

    [Fact]
    public async Task WithTokens_SubsOfSeveralWords_AnEmailAddressAndOneTooLongForTheEventsRoutingKey_SeeEachOtherComeAndGo()
    {
        // A sub is any string: john.doe's inbox is chat.user.john.doe, whose presence events' routing key has more words
        // than chat.user.*; a long e-mail address makes the routing key pass 255 bytes, and the gateway leaves the name out.
        await using var chat = await StartChatAsync(tokens: true);
        var (john, ann) = (chat.User("john.doe"), chat.User(new string('a', 210) + "@mail.example.com"));
        Assert.True($"unsubscribed.queue.chat.user.{ann}".Length > 255);
        string Url(string user) => chat.Url(user, "&token=" + ChatToken(user));
        var johnPage = await chat.NewPageAsync();
        var annPage = await chat.NewPageAsync();
        await johnPage.GotoAsync(Url(john));
        await Expect(johnPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await annPage.GotoAsync(Url(ann));
        await Expect(annPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        await Expect(johnPage.Locator("#online li")).ToHaveTextAsync([$"{ann}", $"{john} (you)"]);
        await Expect(annPage.Locator("#online li")).ToHaveTextAsync([$"{ann} (you)", $"{john}"]);
        await SayAsync(annPage, "hello john");
        await Expect(johnPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{ann}hello john"]);

        await annPage.Context.CloseAsync();
        await Expect(johnPage.Locator("#messages li[data-kind=leave]")).ToHaveTextAsync([$"{ann} left"], new() { Timeout = LeaveTimeout });
        await Expect(johnPage.Locator("#online li")).ToHaveTextAsync([$"{john} (you)"]);
    }

    [Fact]
    public async Task WithTokens_AUserParameterOtherThanTheSub_ThePageIsItsSub_AndDoesNotListItselfTwice()
    {
        // The gateway makes the inbox chat.user.SUB whatever user= says: the page's own presence event names the sub, and
        // a page that took user= for itself listed the sub as someone else, and told it "here" into its own inbox.
        await using var chat = await StartChatAsync(tokens: true);
        var (john, bob) = (chat.User("john.doe@example.com"), chat.User("bob"));
        var johnPage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await johnPage.GotoAsync(chat.Url("john", "&token=" + ChatToken(john)));
        await Expect(johnPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(chat.Url(bob, "&token=" + ChatToken(bob)));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        await Expect(johnPage.Locator("#title")).ToHaveTextAsync($"#{chat.Room} as {john}");
        await Expect(johnPage.Locator("#online li")).ToHaveTextAsync([bob, $"{john} (you)"]);
        await Expect(bobPage.Locator("#online li")).ToHaveTextAsync([$"{bob} (you)", john]);
        await SayAsync(johnPage, "hello");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{john}hello"]);
        Assert.Equal([bob, $"{john} (you)"], await johnPage.Locator("#online li").AllTextContentsAsync());
    }

    [Fact]
    public async Task WithTokens_APageWritingAnotherName_IsShownAsItsTokensSub()
    {
        // With tokens each line is shown by the frame's "from" (the sender's sub, set by the gateway), not by the
        // name the sending page put in the message: mallory's page, opened as user alice, still writes as mallory.
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, mallory, bob) = (chat.User("alice"), chat.User("mallory"), chat.User("bob"));
        string Url(string user, string sub) => chat.Url(user, "&token=" + ChatToken(sub));
        var bobPage = await chat.NewPageAsync();
        var malloryPage = await chat.NewPageAsync();
        await bobPage.GotoAsync(Url(bob, bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await malloryPage.GotoAsync(Url(alice, mallory));
        await Expect(malloryPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        await SayAsync(malloryPage, "it is me, alice");

        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{mallory}it is me, alice"]);
        await Expect(bobPage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{bob} joined", $"{mallory} joined"]);
        await Expect(bobPage.Locator($"#online li[data-user='{mallory}']")).ToHaveCountAsync(1);
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task WithTokens_APagePublishingAPresenceLookAlike_DoesNotPutAUserOnline()
    {
        // The inbox takes publishes from every page (publish claim user.*): mallory sends bob a "subscribed" of eve's. The
        // gateway's presence events carry no sender; mallory's publish carries her sub as "from", and bob's page ignores it.
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, mallory, bob, eve) = (chat.User("alice"), chat.User("mallory"), chat.User("bob"), chat.User("eve"));
        var bobPage = await chat.NewPageAsync();
        var alicePage = await chat.NewPageAsync();
        await bobPage.GotoAsync(chat.Url(bob, $"&token={ChatToken(bob)}"));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        await using (var forger = await chat.Gateway.ConnectWebSocketAsync($"/ws?access_token={ChatToken(mallory)}"))
        {
            Assert.True(forger.Connected, $"{forger.Status} {forger.Reason}");
            await forger.SendAsync(
                $$$"""{"publish": {"to": "user.{{{bob}}}", "type": "subscribed", "data": {"event": "subscribed", "kind": "queue", "name": "chat.user.{{{eve}}}"}}, "ref": "f1"}""");
            Assert.Equal("""{"published":"f1"}""", (await forger.ReceiveAnswersAsync(1, Timeout))[0].GetRawText());
        }

        // A real arrival after the look-alike (the inbox is one queue, in order): once alice shows, eve was passed over.
        await alicePage.GotoAsync(chat.Url(alice, $"&token={ChatToken(alice)}"));
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);
        await Expect(bobPage.Locator($"#online li[data-user='{eve}']")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task WithTokensFromATokenUrl_PagesOutliveTheirTokens_NoLineLostOrTwice_AndNobodyIsShownLeaving()
    {
        // Tokens of 5 s, renewed by each page from its token_url: the gateway closes both sockets of each page at every
        // expiry (1008 token expired); the pages fetch a new token and reconnect, the room resuming after its last id.
        await using var chat = await StartChatAsync(tokens: true, o => o.Auth.Jwt.ClockSkewSeconds = 0);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        string Url(string user) => chat.Url(user, "&token_url=" + Uri.EscapeDataString(chat.Site.TokenUrl(user, 5, ["chat.room.*"], ["room.*", "user.*"])));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await alicePage.GotoAsync(Url(alice));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(Url(bob));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        await SayWhenConnectedAsync(alicePage, "before");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}before"]);

        // A service writes into the room all along, for 12 s: across two or more expiries of every page's token.
        List<string> expected = [$"{alice}before"];
        for (var i = 1; i <= 60; i++)
        {
            var text = $"line {i}";
            await chat.Amqp.PublishAsync($"chat.room.{chat.Room}", JsonSerializer.Serialize(new { from = "svc", text }), properties: new BasicProperties { Type = "message" });
            expected.Add("svc" + text);
            await Task.Delay(200);
        }

        await SayWhenConnectedAsync(alicePage, "after");
        expected.Add($"{alice}after");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(expected.ToArray(), new() { Timeout = 30_000 });
        await Expect(alicePage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync(expected.ToArray(), new() { Timeout = 30_000 });
        Assert.True(chat.Site.TokensIssued >= 6, $"tokens issued: {chat.Site.TokensIssued}");

        // Presence went on: each sees the other online, joined once, and never leaving.
        await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(1);
        await Expect(bobPage.Locator($"#online li[data-user='{alice}']")).ToHaveCountAsync(1);
        foreach (var page in new[] { alicePage, bobPage })
        {
            await Expect(page.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined", $"{bob} joined"]);
            Assert.Equal(0, await page.Locator("#messages li[data-kind=leave]").CountAsync());
        }
    }

    [Fact]
    public async Task WithTokens_AndNoUserParameter_EachPageListsItselfAndTheOther_AndTheyTalk()
    {
        // user= is optional with token_url= or token=: the page is its token's sub, which it learns from a token_url only once
        // it fetched the token (alice), and from a token= at once (bob).
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        await alicePage.GotoAsync(chat.UrlWithoutUser("&token_url=" + Uri.EscapeDataString(chat.Site.TokenUrl(alice, 300, ["chat.room.*"], ["room.*", "user.*"]))));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await bobPage.GotoAsync(chat.UrlWithoutUser("&token=" + ChatToken(bob)));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");

        await Expect(alicePage.Locator("#title")).ToHaveTextAsync($"#{chat.Room} as {alice}");
        await Expect(bobPage.Locator("#title")).ToHaveTextAsync($"#{chat.Room} as {bob}");
        await Expect(alicePage.Locator("#online li")).ToHaveTextAsync([$"{alice} (you)", bob]);
        await Expect(bobPage.Locator("#online li")).ToHaveTextAsync([alice, $"{bob} (you)"]);
        await SayAsync(alicePage, "hello");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}hello"]);
        await Expect(bobPage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined", $"{bob} joined"]);
    }

    /// <summary>
    /// A token the gateway refuses (4401) while the page has a token_url: a key rotation, where the page still holds a token
    /// of the old key and the application's first new tokens are not yet the gateway's. The page renews at once; when that
    /// token is refused too, it waits for its backoff and renews again. A refused socket fires "open" before its close
    /// (the gateway accepts it to close it with 4401), and the page took that open for a connection: it reset its backoff
    /// (so every 4401 was renewed at once, in a loop for as long as token_url gave refused tokens) and published its join
    /// line into the refused inbox, where it was lost: the user's join never showed.
    /// </summary>
    [Fact]
    public async Task WithTokensFromATokenUrl_RefusedTokens_AreRenewedAfterEachBackoff_UntilOneIsTaken()
    {
        await using var chat = await StartChatAsync(tokens: true);
        var alice = chat.User("alice");
        var oldKey = TestTokens.Hs256(
            new Dictionary<string, object> { ["sub"] = alice, ["topics"] = new[] { "chat.room.*" }, ["publish"] = new[] { "room.*", "user.*" } },
            secret: "the key before the rotation, 32 bytes or more");
        // Its first two tokens are refused as well.
        var tokenUrl = chat.Site.TokenUrl(alice, 300, ["chat.room.*"], ["room.*", "user.*"]) + "&refused=2";
        var page = await chat.NewPageAsync();
        await page.GotoAsync(chat.Url(alice, $"&token={oldKey}&token_url={Uri.EscapeDataString(tokenUrl)}"));
        await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await SayWhenConnectedAsync(page, "through at last");
        await Expect(page.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{alice}through at last"]);
        await Expect(page.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined"]);
    }

    [Fact]
    public async Task WithATokenAlone_TheExpiredTokenStopsThePage_SayingSo()
    {
        // token= without token_url: nothing to renew from. The page says so instead of reconnecting with it for ever.
        await using var chat = await StartChatAsync(tokens: true, o => o.Auth.Jwt.ClockSkewSeconds = 0);
        var alice = chat.User("alice");
        var page = await chat.NewPageAsync();
        // Long enough for the page to open under CI's load (with 4 s, one run's page was still connecting when the
        // token expired, and it never showed "open"), short enough for the expiry to come within the next wait.
        await page.GotoAsync(chat.Url(alice, $"&token={ChatToken(alice, TimeSpan.FromSeconds(10))}"));
        await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "closed");
        await Expect(page.Locator("#status")).ToHaveTextAsync("token expired: reload with a new token");
    }

    [Fact]
    public async Task Refusals_ThePageReadsWhy_AndStopsInsteadOfRetryingForEver()
    {
        // config.yml sets ws.close_refusals: a refused socket closes with 4000 + the status and the reason. Without it
        // the page saw 1006 and stayed "connecting" for ever, retrying a token that could never read the room.
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var noTopics = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = alice, ["publish"] = new[] { "room.*" } });
        var forged = TestTokens.Hs256(new Dictionary<string, object> { ["sub"] = bob }, secret: "not the gateway's secret, 32 bytes or more");
        var alicePage = await chat.NewPageAsync();
        var bobPage = await chat.NewPageAsync();
        // A token without the topics claim may read no room: 4403, not to be retried.
        await alicePage.GotoAsync(chat.Url(alice, $"&token={noTopics}"));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "closed");
        await Expect(alicePage.Locator("#status")).ToHaveTextAsync($"refused: token does not permit reading topic 'chat.room.{chat.Room}': its claim 'topics' is missing or empty");

        // A token the gateway cannot verify, and no token_url to get another from: 4401, the page says so.
        await bobPage.GotoAsync(chat.Url(bob, $"&token={forged}"));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "closed");
        await Expect(bobPage.Locator("#status")).ToContainTextAsync("token refused (");
        await Expect(bobPage.Locator("#status")).ToContainTextAsync("): reload with a new token");
    }

    [Fact]
    public async Task WithTokens_ARoomTheTokenMayNotRead_StopsThePage_WhichWritesNothingThere_AndLetsGoOfItsInbox()
    {
        // A token for other rooms only, but with config.yml's publish claim (room.*): its room socket is refused
        // (4403), its inbox is not. The page stopped the room but kept the inbox: it published its join line into the
        // room it may not read, sent whatever was typed there, and held the user's inbox, so that the same user's page
        // of a room it may read stayed "connecting" for as long as this one was open.
        await using var chat = await StartChatAsync(tokens: true);
        var (alice, bob) = (chat.User("alice"), chat.User("bob"));
        var bobPage = await chat.NewPageAsync();
        await bobPage.GotoAsync(chat.Url(bob, $"&token={ChatToken(bob)}"));
        await Expect(bobPage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
        await Expect(bobPage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{bob} joined"]);

        var otherRoomsOnly = TestTokens.Hs256(new Dictionary<string, object>
        {
            ["sub"] = alice,
            ["topics"] = new[] { "chat.room.other" },
            ["publish"] = new[] { "room.*", "user.*" },
        });
        var alicePage = await chat.NewPageAsync();
        await alicePage.GotoAsync(chat.Url(alice, $"&token={otherRoomsOnly}"));
        await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "closed");
        await Expect(alicePage.Locator("#status")).ToHaveTextAsync($"refused: token does not permit reading topic 'chat.room.{chat.Room}': its claim 'topics' does not list it");
        // (the inbox may never have been declared: its socket is closed as soon as the room is refused)
        await Wait.UntilAsync(async () => await chat.Amqp.ConsumerCountAsync($"chat.user.{alice}") is null or 0, Timeout, "the refused page's inbox let go");

        // What alice types stays on her page, unsent.
        await SayAsync(alicePage, "let me in");
        await Expect(alicePage.Locator("#text")).ToHaveValueAsync("let me in");

        // bob's line comes after whatever alice's page published into the room before it: nothing.
        await SayAsync(bobPage, "anyone?");
        await Expect(bobPage.Locator("#messages li[data-kind=message]")).ToHaveTextAsync([$"{bob}anyone?"]);
        Assert.Equal([$"{bob} joined"], await bobPage.Locator("#messages li[data-kind=join]").AllTextContentsAsync());
    }

    /// <summary>Sends <paramref name="text"/>, again while the page keeps it (its inbox was reconnecting): until it is sent.</summary>
    private static async Task SayWhenConnectedAsync(IPage page, string text)
    {
        await page.Locator("#text").FillAsync(text);
        for (var i = 0; i < 100 && await page.Locator("#text").InputValueAsync() != ""; i++)
        {
            await page.Locator("#send button").ClickAsync();
            await Task.Delay(100);
        }

        await Expect(page.Locator("#text")).ToHaveValueAsync("");
    }

    /// <summary>A token as config.yml's comment asks for: the user as <c>sub</c>, every room to read, rooms and inboxes to publish to.</summary>
    private static string ChatToken(string sub, TimeSpan? lifetime = null) => TestTokens.Hs256(new Dictionary<string, object>
    {
        ["sub"] = sub,
        ["topics"] = new[] { "chat.room.*" },
        ["publish"] = new[] { "room.*", "user.*" },
    }, lifetime);

    private static async Task SayAsync(IPage page, string text)
    {
        await page.Locator("#text").FillAsync(text);
        await page.Locator("#send button").ClickAsync();
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    /// <summary>
    /// A gateway configured by <c>examples/chat/config.yml</c>, on the test broker and a free loopback port (with
    /// <paramref name="tokens"/>, as the file's comment says for tokens: queue.pattern <c>chat.user.${claim:sub}</c> and a
    /// key), the site serving the page, and a room of the test's own.
    /// </summary>
    private async Task<ChatScene> StartChatAsync(bool tokens = false, Action<GatewayOptions>? configure = null, [CallerMemberName] string test = "")
    {
        var options = ConfigLoader.Load(new ConfigSources([], RepoPaths.Examples("chat", "config.yml"), "EVENTSOURCED_CHAT_EXAMPLE_TEST_")).Options;
        options.Server.Address = "127.0.0.1:0";
        options.Broker.Node = [broker.AmqpUrl];
        options.Log.Level = "warning";
        if (tokens)
        {
            options.Queue.Pattern = "chat.user.${claim:sub}";
            options.Auth.Jwt.Secret = TestTokens.Secret;
        }

        configure?.Invoke(options);
        var gateway = await GatewayServer.StartAsync(options);
        PageServer? site = null;
        try
        {
            site = await PageServer.StartAsync();
            return new ChatScene(chromium, gateway, site, await broker.ConnectAsync(test), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));
        }
        catch
        {
            if (site is not null)
            {
                await site.DisposeAsync();
            }

            await gateway.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// One test's chat: its gateway, site, broker client, a room, and users' names of its own (<see cref="User"/>); disposed,
    /// it closes the pages it opened and deletes the room's and the users' queues.
    /// </summary>
    private sealed class ChatScene(ChromiumFixture chromium, GatewayServer gateway, PageServer site, AmqpTestClient amqp, string suffix) : IAsyncDisposable
    {
        private readonly List<IPage> _pages = [];
        private readonly List<string> _users = [];

        public GatewayServer Gateway => gateway;

        public PageServer Site => site;

        public AmqpTestClient Amqp => amqp;

        public string Room { get; } = $"room-{suffix}";

        /// <summary>A user's name of this test's own, <c>NAME-SUFFIX</c>; its inbox is deleted with the scene.</summary>
        public string User(string name)
        {
            var user = $"{name}-{suffix}";
            _users.Add(user);
            return user;
        }

        /// <summary>The chat page for <paramref name="user"/> in the room, on this gateway, with <paramref name="query"/> (<c>&amp;token=...</c>) after.</summary>
        public string Url(string user, string query = "", int? port = null) =>
            site.ChatUrl($"?gateway={Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{port ?? gateway.Port}")}&room={Room}&user={Uri.EscapeDataString(user)}{query}");

        /// <summary>The chat page in the room, on this gateway, without <c>user=</c>: <paramref name="query"/> brings the token (<c>&amp;token_url=...</c>).</summary>
        public string UrlWithoutUser(string query) =>
            site.ChatUrl($"?gateway={Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{gateway.Port}")}&room={Room}{query}");

        public async Task<IPage> NewPageAsync()
        {
            var page = await chromium.NewPageAsync();
            _pages.Add(page);
            return page;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var page in _pages)
            {
                await page.Context.CloseAsync();
            }

            await amqp.DeleteQueueAsync($"chat.room.{Room}");
            foreach (var user in _users)
            {
                await amqp.DeleteQueueAsync($"chat.user.{user}");
            }

            await amqp.DisposeAsync();
            await site.DisposeAsync();
            await gateway.DisposeAsync();
        }
    }
}
