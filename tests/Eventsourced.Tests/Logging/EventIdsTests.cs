using System.Reflection;
using Eventsourced.Logging;

namespace Eventsourced.Tests.Logging;

public sealed class EventIdsTests
{
    /// <summary>Log pipelines filter on event ids: two events sharing one would be indistinguishable there.</summary>
    [Fact]
    public void EveryEventId_IsUsedOnce()
    {
        var ids = typeof(EventIds).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (f.Name, Id: (int)f.GetRawConstantValue()!))
            .ToList();
        Assert.True(ids.Count > 30);
        var shared = ids.GroupBy(i => i.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(i => i.Name))}");
        Assert.Empty(shared);
    }
}
