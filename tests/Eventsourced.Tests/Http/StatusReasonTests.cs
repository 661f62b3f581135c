using System.Text;
using Eventsourced.Http;
using Microsoft.AspNetCore.Http;

namespace Eventsourced.Tests.Http;

public sealed class StatusReasonTests
{
    /// <summary>README "The stream endpoint": the header is printable ASCII (`?` for anything else), the body the reason exactly, UTF-8.</summary>
    [Fact]
    public async Task ANonAsciiReason_IsQuestionMarksInTheHeader_AndExactInTheBody()
    {
        var context = new DefaultHttpContext();
        using var body = new MemoryStream();
        context.Response.Body = body;

        await StatusReason.WriteAsync(context, 403, "token does not permit reading topic 'café\u0085'");

        Assert.Equal(403, context.Response.StatusCode);
        Assert.Equal("token does not permit reading topic 'caf??'", context.Response.Headers[StatusReason.Header].ToString());
        Assert.Equal("text/plain; charset=utf-8", context.Response.ContentType);
        Assert.Equal("token does not permit reading topic 'café\u0085'\n", Encoding.UTF8.GetString(body.ToArray()));
    }
}
