using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Eventsourced.Testing.Tokens;

/// <summary>
/// An identity provider's key set on loopback (<c>auth.jwt.jwks_url</c>): serves <see cref="Document"/> as
/// <see cref="ContentType"/> at <see cref="Url"/>, counts the fetches, and with <see cref="Hang"/> takes a request without
/// answering it until the server is disposed.
/// </summary>
public sealed class JwksServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _hung = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string _document = "{\"keys\":[]}";
    private volatile string _contentType = "application/json";
    private volatile bool _hang;
    private int _fetches;

    private JwksServer(WebApplication app)
    {
        _app = app;
        _app.MapGet("/jwks.json", AnswerAsync);
    }

    /// <summary>The key set's URL (<c>http://127.0.0.1:PORT/jwks.json</c>).</summary>
    public string Url { get; private set; } = string.Empty;

    /// <summary>What the next fetches get (<see cref="TestTokens.Jwks"/>, or anything else).</summary>
    public string Document { get => _document; set => _document = value; }

    public string ContentType { get => _contentType; set => _contentType = value; }

    /// <summary>When set, a fetch is taken and not answered (until the server is disposed).</summary>
    public bool Hang { get => _hang; set => _hang = value; }

    /// <summary>Completes when a fetch is first held by <see cref="Hang"/>.</summary>
    public Task HungFetch => _hung.Task;

    /// <summary>Fetches taken so far.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    public static async Task<JwksServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var server = new JwksServer(builder.Build());
        await server._app.StartAsync();
        server.Url = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/jwks.json";
        return server;
    }

    private async Task<IResult> AnswerAsync()
    {
        Interlocked.Increment(ref _fetches);
        if (_hang)
        {
            _hung.TrySetResult();
            await _release.Task;
        }

        return Results.Text(_document, _contentType);
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.DisposeAsync();
    }
}
