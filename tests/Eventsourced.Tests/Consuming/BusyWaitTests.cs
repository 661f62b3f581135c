using Eventsourced.Consuming;

namespace Eventsourced.Tests.Consuming;

public sealed class BusyWaitTests
{
    [Theory]
    [InlineData(100, 500, 100)]
    [InlineData(400, 150, 150)]
    [InlineData(25, 25, 25)]
    public void BusyWait_IsTheRetry_AtMostWhatIsLeftOfTheGrace(int retry, int remaining, int expected) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expected), BusyRetry.Wait(TimeSpan.FromMilliseconds(retry), TimeSpan.FromMilliseconds(remaining)));

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(-3)]
    public async Task BusyWait_GraceRunOutSinceTheCheck_WaitsNothing_AndTaskDelayTakesIt(int remaining)
    {
        // The grace may run out between the check that allows another try and the wait: a negative delay must not reach Task.Delay.
        var wait = BusyRetry.Wait(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(remaining));
        Assert.Equal(TimeSpan.Zero, wait);
        await Task.Delay(wait, TimeProvider.System);
    }
}
