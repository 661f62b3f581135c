using System.Security.Cryptography;
using Eventsourced.Configuration;
using Eventsourced.EndToEndTests.Infrastructure;
using Microsoft.Playwright;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary>
/// <c>examples/chat</c>: its page in Chromium against a gateway configured by its <c>config.yml</c>, nothing else but
/// RabbitMQ. Two users in two pages see each other come, talk and go; a reload brings the conversation back.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ChatExampleTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TwoUsers_SeeEachOthersMessagesJoinAndLeave_AndTheConversationAfterAReload()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var (room, alice, bob) = ($"room-{suffix}", $"alice-{suffix}", $"bob-{suffix}");
        await using var gateway = await StartGatewayAsync();
        await using var site = await PageServer.StartAsync();
        await using var amqp = await broker.ConnectAsync(nameof(TwoUsers_SeeEachOthersMessagesJoinAndLeave_AndTheConversationAfterAReload));
        var gatewayUrl = Uri.EscapeDataString($"ws://{PageServer.GatewayHost}:{gateway.Port}");
        string Url(string user) => site.ChatUrl($"?gateway={gatewayUrl}&room={room}&user={user}");
        var alicePage = await chromium.NewPageAsync();
        var bobPage = await chromium.NewPageAsync();
        try
        {
            await alicePage.GotoAsync(Url(alice));
            await Expect(alicePage.Locator("#status")).ToHaveAttributeAsync("data-state", "open");
            await Expect(alicePage.Locator("#messages li[data-kind=join]")).ToHaveTextAsync([$"{alice} joined"]);

            await bobPage.GotoAsync(Url(bob));
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

            // bob leaves: alice sees it.
            await bobPage.Context.CloseAsync();
            await Expect(alicePage.Locator("#messages li[data-kind=leave]").Last).ToHaveTextAsync($"{bob} left");
            await Expect(alicePage.Locator($"#online li[data-user='{bob}']")).ToHaveCountAsync(0);
            await Expect(alicePage.Locator($"#online li[data-user='{alice}']")).ToHaveTextAsync($"{alice} (you)");
        }
        finally
        {
            await alicePage.Context.CloseAsync();
            await bobPage.Context.CloseAsync();
            await amqp.DeleteQueueAsync($"chat.room.{room}");
            await amqp.DeleteQueueAsync($"chat.user.{alice}");
            await amqp.DeleteQueueAsync($"chat.user.{bob}");
        }
    }

    private static async Task SayAsync(IPage page, string text)
    {
        await page.Locator("#text").FillAsync(text);
        await page.Locator("#send button").ClickAsync();
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    /// <summary>A gateway configured by <c>examples/chat/config.yml</c>, on the test broker and a free loopback port.</summary>
    private Task<GatewayServer> StartGatewayAsync()
    {
        var options = ConfigLoader.Load(new ConfigSources([], RepoPaths.Examples("chat", "config.yml"), "EVENTSOURCED_CHAT_EXAMPLE_TEST_")).Options;
        options.Server.Address = "127.0.0.1:0";
        options.Broker.Node = [broker.AmqpUrl];
        options.Log.Level = "warning";
        return GatewayServer.StartAsync(options);
    }
}
