using System.Security.Cryptography;
using System.Text;

namespace Eventsourced.Testing.Brokers;

/// <summary>Queue names that cannot collide between tests, runs or parallel test processes.</summary>
public static class QueueNames
{
    private const int MaxTestNameLength = 120;

    /// <summary>
    /// <c>test-{testName}-{random}</c>, URL-safe (letters, digits, <c>-</c>, <c>_</c>, <c>.</c>) so it can
    /// travel in a query string or cookie, and far below the broker's 255-byte limit.
    /// </summary>
    public static string Unique(string testName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(testName);
        var safe = new StringBuilder(Math.Min(testName.Length, MaxTestNameLength));
        foreach (var c in testName)
        {
            if (safe.Length == MaxTestNameLength)
            {
                break;
            }
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
        }
        var suffix = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        return $"test-{safe}-{suffix}";
    }
}
