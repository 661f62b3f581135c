using Eventsourced.Http;
using Eventsourced.Sse;

namespace Eventsourced.Tests.Sse;

public sealed class SseResponseHeadersTests
{
    [Fact]
    public void Defaults_LeaveTransferEncodingToTheServer()
    {
        var headers = new SseResponseHeaders(new HeaderOptions());

        Assert.Equal(["Content-Type", "Cache-Control", "X-Accel-Buffering"], headers.Sse.Select(h => h.Key));
        // Access-Control-Allow-Origin is answered per request by OriginPolicy.
        Assert.Equal(["Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers"], headers.Cors.Select(h => h.Key));
        Assert.Equal(["Transfer-Encoding"], headers.Ignored);
    }

    [Fact]
    public void ServerOwnedHeaders_AreIgnoredInAnyCase()
    {
        var options = new HeaderOptions();
        options.Sse["connection"] = "close";
        options.Cors["CONTENT-LENGTH"] = "0";

        var headers = new SseResponseHeaders(options);

        Assert.DoesNotContain(headers.Sse.Concat(headers.Cors), h => h.Key is "connection" or "CONTENT-LENGTH");
        Assert.Contains("connection", headers.Ignored);
        Assert.Contains("CONTENT-LENGTH", headers.Ignored);
    }
}
