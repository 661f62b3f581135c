using System.Text;
using Eventsourced.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Eventsourced.Health;

/// <summary>
/// Plain text for probes and people: the overall status on the first line, then one line per check with
/// its description. A failing report also carries the first failure in <c>X-Status-Reason</c>, as the
/// stream endpoint's refusals do.
/// </summary>
internal static class HealthResponseWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var text = new StringBuilder().Append(report.Status).Append('\n');
        foreach (var (name, entry) in report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            text.Append(name).Append(": ").Append(entry.Status);
            if (!string.IsNullOrEmpty(entry.Description))
            {
                text.Append(": ").Append(entry.Description);
            }

            text.Append('\n');
        }

        var failure = report.Entries.Values.FirstOrDefault(e => e.Status == HealthStatus.Unhealthy).Description;
        if (report.Status == HealthStatus.Unhealthy && !string.IsNullOrEmpty(failure))
        {
            context.Response.Headers[StatusReason.Header] = StatusReason.AsHeaderValue(failure);
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        return context.Response.WriteAsync(text.ToString(), context.RequestAborted);
    }
}
