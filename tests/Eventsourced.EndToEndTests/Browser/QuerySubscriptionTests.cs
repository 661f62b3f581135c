using System.Text;
using Eventsourced.EndToEndTests.Infrastructure;

namespace Eventsourced.EndToEndTests.Browser;

/// <summary><c>queue.pattern: ${query:id}</c> (the default), subscribed from a page of another origin.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class QuerySubscriptionTests(BrokerFixture broker, ChromiumFixture chromium)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task QueryId_PageOfAnotherOrigin_ReceivesEveryMessageInOrderWithBodiesIntact()
    {
        var queue = broker.UniqueQueueName(nameof(QueryId_PageOfAnotherOrigin_ReceivesEveryMessageInOrderWithBodiesIntact));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await using var amqp = await broker.ConnectAsync(nameof(QueryId_PageOfAnotherOrigin_ReceivesEveryMessageInOrderWithBodiesIntact));

            // (published body, what EventSource.data must be: the gateway drops CRs and trims spaces and newlines)
            var large = string.Concat(Enumerable.Repeat("Grüße 東京 🎉 ", 6000)).Trim();
            (string Body, string Data)[] cases =
            [
                .. Enumerable.Range(1, 40).Select(i => ($"message {i}", $"message {i}")),
                ("first line\nsecond line\n\nfourth line, after an empty one", "first line\nsecond line\n\nfourth line, after an empty one"),
                ("windows\r\nline endings\r\n", "windows\nline endings"),
                ("  padded, with trailing newline \n", "padded, with trailing newline"),
                ("    indented\n        more indented", "indented\n        more indented"),
                ("data: looks like a field\nid: 7\n: and a comment", "data: looks like a field\nid: 7\n: and a comment"),
                ("Grüße aus Köln — Ελληνικά — עברית — 東京 — 🎉👩‍💻", "Grüße aus Köln — Ελληνικά — עברית — 東京 — 🎉👩‍💻"),
                ("línea uno\n第二行\n🎉", "línea uno\n第二行\n🎉"),
                ("{\"user\":42,\"text\":\"héllo\\nworld\"}", "{\"user\":42,\"text\":\"héllo\\nworld\"}"),
                (large, large),
                ("last", "last"),
            ];
            foreach (var (body, _) in cases)
            {
                await amqp.PublishAsync(queue, Encoding.UTF8.GetBytes(body));
            }

            await Harness.WaitUntilAsync(page, $"h.events.length >= {cases.Length}", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(cases.Select(c => c.Data), seen.Events);
            Assert.Equal(0, seen.Errors);
            Assert.Equal(1, seen.Opens);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task EdgeBodies_ReachTheEventSource_AsTheReadmeSays_AndNonUtf8AsReplacementCharacters()
    {
        // What a service in another language may publish: an empty body, lone CRs, a NUL, a BOM, bytes that are no
        // UTF-8. The README ("Wire format") says what an EventSource makes of each; nothing is dropped.
        var queue = broker.UniqueQueueName(nameof(EdgeBodies_ReachTheEventSource_AsTheReadmeSays_AndNonUtf8AsReplacementCharacters));
        await using var gateway = await GatewayServer.StartAsync(broker.AmqpUrl);
        await using var site = await PageServer.StartAsync();
        var page = await chromium.NewPageAsync();
        try
        {
            await page.GotoAsync(site.HarnessUrl(PageServer.GatewayUrl(gateway.Port, $"/?id={queue}")));
            await Harness.WaitUntilAsync(page, "h.opens === 1", Timeout);
            await using var amqp = await broker.ConnectAsync(nameof(EdgeBodies_ReachTheEventSource_AsTheReadmeSays_AndNonUtf8AsReplacementCharacters));
            (byte[] Body, string Data)[] cases =
            [
                ([], ""),
                ("   \n  "u8.ToArray(), ""),
                ("a\rb"u8.ToArray(), "ab"),
                ("a\r\nb\rc"u8.ToArray(), "a\nbc"),
                ("a\0b"u8.ToArray(), "a\0b"),
                ("\uFEFFhello"u8.ToArray(), "\uFEFFhello"),
                ([0xff, 0xfe, 0x61, 0x80], "\uFFFD\uFFFDa\uFFFD"),
                ("last"u8.ToArray(), "last"),
            ];
            foreach (var (body, _) in cases)
            {
                await amqp.PublishAsync(queue, body);
            }

            await Harness.WaitUntilAsync(page, $"h.events.length >= {cases.Length}", Timeout);
            var seen = await Harness.ReadAsync(page);
            Assert.Equal(cases.Select(c => c.Data), seen.Events);
            Assert.Equal(0, seen.Errors);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
