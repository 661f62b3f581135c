namespace Eventsourced.Configuration;

/// <summary>
/// A relative file path in a configuration file (<c>server.tls</c>, <c>auth.jwt.secret_files</c>,
/// <c>auth.jwt.public_keys</c>) is taken from the directory of the file that names it, as Prometheus and nginx take
/// theirs, not from the working directory: a service manager starts the gateway in <c>/</c>, so
/// <c>tls/cert.pem</c> in <c>config.yml</c> beside the executable was looked for as <c>/tls/cert.pem</c>. A path given
/// by an environment variable, and one in a file read from a pipe (<c>--config /dev/stdin</c>), which has no
/// directory of its own, stays as given (the working directory's).
/// </summary>
internal static class RelativePaths
{
    /// <summary>Replaces each relative path that a configuration file set by the path from that file's directory.</summary>
    public static void Resolve(GatewayOptions options, ConfigOrigins origins)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(origins);
        var tls = options.Server.Tls;
        foreach (var name in tls.Keys.ToList())
        {
            tls[name] = FromFile(tls[name], origins.Of($"server:tls:{name}"));
        }

        var jwt = options.Auth.Jwt;
        for (var i = 0; i < jwt.SecretFiles.Count; i++)
        {
            // ALGORITHM:PATH; an entry without the colon is refused by its own check, as it is.
            var entry = jwt.SecretFiles[i];
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                jwt.SecretFiles[i] = entry[..(colon + 1)] + FromFile(entry[(colon + 1)..], origins.Of($"auth:jwt:secret_files:{i}"));
            }
        }

        for (var i = 0; i < jwt.PublicKeys.Count; i++)
        {
            jwt.PublicKeys[i] = FromFile(jwt.PublicKeys[i], origins.Of($"auth:jwt:public_keys:{i}"));
        }
    }

    private static string FromFile(string path, ConfigLocation where)
    {
        if (!where.IsFile || path.Length == 0 || path.Any(char.IsControl) || Path.IsPathRooted(path) || DirectoryOf(where.Source) is not { } directory)
        {
            return path;
        }

        return Path.Combine(directory, path);
    }

    /// <summary>The directory of a configuration file that is a file (through any links), else null: a pipe has none.</summary>
    private static string? DirectoryOf(string file)
    {
        try
        {
            var info = new FileInfo(file);
            var target = info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true);
            return target is FileInfo { Exists: true } ? Path.GetDirectoryName(Path.GetFullPath(file)) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }
}
