using Microsoft.AspNetCore.Http;

namespace Eventsourced.Consuming;

/// <summary>
/// A kind of subscription (a client's own queue, a topic): what a request asks for, and how it is opened.
/// The request path (<see cref="Http.SubscriptionGate"/>) is the same for every kind and every transport.
/// </summary>
internal interface ISubscriptionTarget
{
    /// <summary>
    /// The kind of subscription (<c>queue</c>, <c>topic</c>, ...): what <see cref="Authorization.SubscriberPermissions.MayRead"/>
    /// checks a token's claims for (<c>auth.read_claims</c> has a claim per kind), and what presence events name.
    /// Lower-case letters.
    /// </summary>
    string Kind { get; }

    /// <summary>
    /// The name the request asks for (from <c>queue.pattern</c>, the path, ...), or false with a reason the
    /// client gets with a 400. Everything else the request asks for (a queue's bindings, where a topic resumes)
    /// is checked here too, so that a bad request is a 400 before anything is opened.
    /// </summary>
    bool TryResolve(HttpContext context, out string name, out string reason);

    /// <summary>
    /// Opens <paramref name="name"/> for the request <paramref name="context"/> (resolved before), with deliveries
    /// framed by <paramref name="format"/>.
    /// </summary>
    /// <exception cref="SubscribeException">The broker refused, no connection can take it, or the kind's rules refuse it.</exception>
    Task<ISubscription> OpenAsync(HttpContext context, string name, IFrameFormat format, CancellationToken cancellationToken);

    /// <summary>
    /// A request (resolved before) uses <paramref name="held"/>, a subscription of its name held between requests
    /// (long-polling), instead of opening one: what opening would have done for this request beyond the name (a queue's
    /// bindings from its query, cookies or token) is done now. Nothing by default.
    /// </summary>
    /// <exception cref="SubscribeException">The broker refused, no connection can take it, or the kind's rules refuse it.</exception>
    Task ReuseAsync(HttpContext context, ISubscription held, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>What a transport does with an open subscription until it ends (writes an SSE stream, serves a WebSocket, ...).</summary>
internal interface ISubscriptionSession
{
    Task<SubscriptionEndReason> RunAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Called by <see cref="Http.SubscriptionGate"/> after <see cref="RunAsync"/> returned, when the gateway ended the
    /// subscription for a reason the client should hear (<see cref="SubscriptionEndReason.TokenExpired"/>: fetch a
    /// new token): the transport says so in its own framing (SSE: a comment line; WebSocket: the close frame's
    /// reason). Nothing by default.
    /// </summary>
    Task NotifyEndAsync(SubscriptionEndReason reason, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Messages handed to the client so far, for the log line at the end.</summary>
    long MessagesWritten { get; }

    /// <summary>
    /// Called by <see cref="Http.SubscriptionGate"/> once the subscription was released: the transport finishes its
    /// response (SSE written straight to the socket: waits until the kernel has taken it, then hands the response back
    /// to the server). Nothing by default.
    /// </summary>
    Task FinishAsync() => Task.CompletedTask;
}
