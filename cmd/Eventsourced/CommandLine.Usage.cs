using Eventsourced.Configuration;

namespace Eventsourced.Cli;

/// <summary>The help text.</summary>
public sealed partial class CommandLine
{
    /// <summary>What <c>eventsourced --help</c> prints.</summary>
    public static string Usage { get; } =
        $"""
        Usage: eventsourced [--config FILE] [-c | --dump-config] [-v | --version] [-h | --help]

        Pushes RabbitMQ messages to browsers as Server-Sent Events.

        Options:
          --config FILE, --config=FILE  also read FILE, which must exist (after the default files)
          -c, --dump-config             print the effective configuration as YAML and exit
          -v, --version                 print the version and exit
          -h, --help                    print this help and exit

        Configuration sources, each overriding the ones before it:
          1. built-in defaults (see config.yml-dist)
          2. {ConfigSources.SystemFile}, if it exists
          3. config.yml in the directory of the executable, if it exists
          4. the --config FILE
          5. environment variables EVENTSOURCED_<SECTION>__<KEY> (any case), for example
               EVENTSOURCED_SERVER__ADDRESS=0.0.0.0:2069
               EVENTSOURCED_QUEUE__EXPIRES=1800
               EVENTSOURCED_BROKER__NODE=amqp://host-a/,amqp://host-b/  (or __NODE__0, __NODE__1, ...)
               EVENTSOURCED_HEADER__CORS__Access-Control-Allow-Origin=*  (an empty value removes the header)
        Lists (broker.node) replace earlier ones; headers are merged by name.

        Exit codes:
          0   success
          64  bad command line
          69  cannot listen (an address in use, denied or not this host's, a name that does not resolve)
          78  configuration error (each problem printed as FILE:LINE: KEY: problem)

        """;
}
