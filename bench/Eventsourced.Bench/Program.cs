using System.CommandLine.Invocation;
using Eventsourced.Bench;
using Eventsourced.Bench.Amqp;
using Eventsourced.Bench.Measure;
using Eventsourced.Bench.Report;
using Eventsourced.Bench.Scenarios;
using Eventsourced.Bench.Sse;

// The load tool: drives a running gateway (HTTP) and its broker (AMQP), prints one line per scenario
// and a Markdown table. Exit 0 clean, 1 when a scenario failed, 2 bad usage, 3 a target missed (--require-targets).
var commandLine = new BenchCommandLine();
var parsed = commandLine.Parse(args);
if (parsed.Action is not null and not ParseErrorAction)
{
    // --help (or --version): System.CommandLine's own answer, exit 0.
    return parsed.Invoke();
}

if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"Eventsourced.Bench: {error.Message}");
    }

    Console.Error.WriteLine();
    commandLine.WriteHelp(Console.Error);
    return 2;
}

var options = commandLine.Bind(parsed);

Log.Begin();
// No blocking gen2 collections while measuring: this process's pauses would count as the gateway's latency.
System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
ThreadPool.GetMinThreads(out var workers, out var io);
ThreadPool.SetMinThreads(Math.Max(workers, 16), io);
var gateway = options.GatewayPid is { } pid ? new ProcessMemory(pid) : null;
if (gateway is { IsAlive: false })
{
    Console.Error.WriteLine($"Eventsourced.Bench: no process {options.GatewayPid}");
    return 2;
}

await using var broker = await BrokerClient.ConnectAsync(options.Amqp);
var tokens = options.TokenSecret is { } secret ? new SubscriberTokens(secret) : null;
// With --token-gateway, --gateway is the gateway without tokens and the second one requires them (drain measures both).
var connector = new SseConnector(options.Gateway, options.Sources, options.TokenGateway is null ? tokens : null);
var tokenConnector = options.TokenGateway is { } tokenGateway && tokens is not null ? new SseConnector(tokenGateway, options.Sources, tokens) : null;
var context = new BenchContext(options, broker, connector, gateway) { Tokens = tokens, TokenConnector = tokenConnector };
var results = new List<ScenarioResult>();
var cpu = context.Cpu;
var othersMax = 0.0;
Log.Line($"run {context.RunId}: scenarios {string.Join(", ", options.Scenarios)}; load average {ProcessMemory.LoadAverage():F2}");
foreach (var scenario in options.Scenarios)
{
    IEnumerable<Func<Task<ScenarioResult>>> runs = scenario switch
    {
        "drain" => DrainShapes(options).Select(shape => (Func<Task<ScenarioResult>>)(() => DrainScenario.RunAsync(context, shape.Queues, shape.Messages))),
        "live" => LiveScenario.Shapes(options).Select(shape => (Func<Task<ScenarioResult>>)(() => LiveScenario.RunAsync(context, shape.Streams, shape.Connecting))),
        "hold" => HoldScenario.Shapes(options).Select(streams => (Func<Task<ScenarioResult>>)(() => HoldScenario.RunAsync(context, streams))),
        "storm" => [() => StormScenario.RunAsync(context)],
        "slow" => [() => SlowScenario.RunAsync(context)],
        "churn" => [() => ChurnScenario.RunAsync(context)],
        "fanout" => [() => FanoutScenario.RunAsync(context)],
        "resume" => [() => ResumeScenario.RunAsync(context)],
        _ => throw new InvalidOperationException(scenario),
    };
    foreach (var run in runs)
    {
        ScenarioResult result;
        var cpuBefore = cpu.Take();
        try
        {
            result = await run();
        }
        catch (Exception ex)
        {
            Log.Line($"{scenario}: {ex}");
            result = new ScenarioResult(scenario, "-", "did not complete", "-", Verdict.Fail, [$"{ex.GetType().Name}: {ex.Message}"]);
        }

        var cpuAfter = cpu.Take();
        result = result with { Cpu = cpu.Describe(cpuBefore, cpuAfter) };
        othersMax = Math.Max(othersMax, cpu.OthersFraction(cpuBefore, cpuAfter));

        results.Add(result);
        Console.Out.WriteLine(result.Line);
        if (gateway is { IsAlive: false })
        {
            Console.Out.WriteLine("the gateway process is gone: stopping");
            break;
        }

        // Let the gateway close the previous scenario's channels before the next one measures.
        await Task.Delay(TimeSpan.FromSeconds(3));
    }

    if (gateway is { IsAlive: false })
    {
        break;
    }
}

var caption = $"Measured by `make bench` on {DateTime.UtcNow:yyyy-MM-dd}: {Environment.ProcessorCount} cores, broker, gateway and this tool on one machine; " +
    "the last column shows who used the CPU while each scenario ran (other processes too: compare before trusting a number).";
var table = MarkdownTable.Render(results, caption);
Console.Out.WriteLine();
Console.Out.Write(table);
Log.Line($"other processes used up to {othersMax * 100:F0}% of the machine during a scenario");
// Charts go next to the Markdown table (or into the working directory); the table's rows link them.
var chartDirectory = options.Markdown is { } markdownFile ? Path.GetDirectoryName(Path.GetFullPath(markdownFile))! : Directory.GetCurrentDirectory();
foreach (var (name, svg) in results.Select(r => r.Chart).OfType<(string, string)>())
{
    await File.WriteAllTextAsync(Path.Combine(chartDirectory, name), svg);
    Log.Line($"chart: {Path.Combine(chartDirectory, name)}");
}

if (options.Markdown is { } file)
{
    if (options.MarkdownAppend && File.Exists(file) && new FileInfo(file).Length > 0)
    {
        await File.AppendAllTextAsync(file, MarkdownTable.Render(results, caption, rowsOnly: true));
    }
    else
    {
        await File.WriteAllTextAsync(file, table);
    }
}

return results.Any(r => r.Verdict == Verdict.Fail) ? 1
    : options.RequireTargets && results.Any(r => r.Verdict == Verdict.Missed) ? 3
    : 0;

static IEnumerable<(int Queues, int Messages)> DrainShapes(BenchOptions options) =>
    options.Queues is null && options.Messages is null
        ? [(100, 1_000), (1_000, 100)]
        : [(options.Queues ?? 100, options.Messages ?? (options.Queues is > 100 ? 100 : 1_000))];
