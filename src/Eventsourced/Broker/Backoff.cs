namespace Eventsourced.Broker;

/// <summary>
/// Capped exponential backoff with "equal jitter": attempt n waits a random time in
/// [cap/2, cap] where cap = min(max, initial * 2^n). Never zero, so a flapping node is not hammered,
/// and spread out, so many gateways do not reconnect in lockstep.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;

    public TimeSpan Initial { get; } = initial;

    public TimeSpan Max { get; } = max < initial ? initial : max;

    public TimeSpan Delay(int attempt)
    {
        var exponent = Math.Clamp(attempt, 0, 30);
        var cap = Math.Min(Max.TotalMilliseconds, Initial.TotalMilliseconds * Math.Pow(2, exponent));
        var half = cap / 2;
        return TimeSpan.FromMilliseconds(half + (_random.NextDouble() * half));
    }
}
