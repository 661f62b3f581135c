using System.Diagnostics;
using System.Text;

namespace Eventsourced.Testing.Processes;

/// <summary>How <see cref="ProcessRunner"/> and <see cref="ServiceProcess"/> start a program and get rid of it.</summary>
internal static class ProcessStart
{
    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    /// <param name="environment">Added to this process's environment (or to none, with <paramref name="clearEnvironment"/>); a null value removes a variable.</param>
    public static ProcessStartInfo Create(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment,
        bool clearEnvironment,
        string? workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = Utf8,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        if (clearEnvironment)
        {
            info.Environment.Clear();
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }
        return info;
    }

    /// <summary><c>FILE ARG ARG...</c>, for messages.</summary>
    public static string Describe(ProcessStartInfo info) =>
        info.ArgumentList.Count == 0 ? info.FileName : $"{info.FileName} {string.Join(' ', info.ArgumentList)}";

    /// <summary>SIGKILL to the process and its children; no error when it is already gone.</summary>
    public static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited (or never started).
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exiting while we tried.
        }
    }
}
