using Eventsourced.Broker;
using Microsoft.Extensions.Hosting;

namespace Eventsourced.Hosting;

/// <summary>
/// Starts the broker pool with the host and closes it last: the web server stops (and its streams end,
/// releasing their channels) before the connections under them are closed.
/// </summary>
internal sealed class BrokerPoolHostedService(BrokerPool pool) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => pool.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => pool.StopAsync(cancellationToken);
}
