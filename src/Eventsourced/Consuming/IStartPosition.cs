namespace Eventsourced.Consuming;

/// <summary>
/// A subscription that knows, before its first message, the id of the one just before it: a topic subscriber that
/// asked for new events only, on a feed that has had events. A transport that resumes by id tells its client at once
/// (SSE: an <c>id:</c> block without data, which sets an EventSource's last event id without firing an event;
/// WebSocket: a first frame <c>{"lastEventId": "ID"}</c>), so
/// that a client cut off before its first event resumes from where it started instead of from whatever is new when it
/// comes back.
/// </summary>
internal interface IStartPosition
{
    /// <summary>The id to resume after, or null when not known (the client named its own, or the feed has had no event yet).</summary>
    string? StartsAfterId { get; }
}
