namespace Eventsourced.Configuration;

/// <summary>
/// Files the configuration names for the gateway to read (<c>server.tls</c>'s PEM files, <c>auth.jwt.secret_files</c>,
/// <c>auth.jwt.public_keys</c>): read at most <see cref="MaxBytes"/>, and only when they are regular files with
/// content. A device such as /dev/zero or /dev/urandom was read until memory ran out (the process aborted), a FIFO
/// (or /dev/stdin on a terminal) held the start-up waiting for a writer, without a word. Both are refused with an
/// <see cref="IOException"/> that says why, which the configuration check reports with file, line and key.
/// </summary>
internal static class ConfigFiles
{
    /// <summary>The largest file read: a certificate chain, a key or a secret takes a few kilobytes.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <param name="path">The file as configured (a symbolic link is followed, as Kubernetes mounts secrets).</param>
    /// <param name="kind">What the file should be, for the refusal of a larger one: "a PEM file".</param>
    public static byte[] Read(string path, string kind)
    {
        // A device or a pipe has no size (st_size 0), as an empty file has: checked before opening, which blocks on a FIFO.
        // A path that does not exist (or a directory) is left to the open below, which says so.
        var configured = new FileInfo(path);
        var target = configured.Exists && configured.LinkTarget is not null ? File.ResolveLinkTarget(path, returnFinalTarget: true) : configured;
        if (configured.Exists && (target is not FileInfo { Exists: true } file || file.Length == 0))
        {
            throw new IOException($"{path} is empty or not a regular file (a device or a pipe): nothing to read");
        }

        return ReadAtMost(path, kind);
    }

    /// <summary>
    /// At most <see cref="MaxBytes"/> of <paramref name="path"/>, whatever it is (a configuration file may come through a
    /// pipe, <c>--config /dev/stdin</c>): a device such as /dev/zero is refused once it gave more, not read until memory
    /// runs out.
    /// </summary>
    public static byte[] ReadAtMost(string path, string kind)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var buffer = new byte[MaxBytes + 1];
        var length = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return length > MaxBytes
            ? throw new IOException($"{path} is larger than {MaxBytes / 1024 / 1024} MiB: not {kind}")
            : buffer[..length];
    }
}
