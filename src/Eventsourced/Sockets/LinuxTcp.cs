namespace Eventsourced.Sockets;

/// <summary>Linux's TCP socket option numbers (<c>netinet/tcp.h</c>), for the raw socket option calls.</summary>
internal static class LinuxTcp
{
    /// <summary><c>IPPROTO_TCP</c>: the level of the options below.</summary>
    public const int Level = 6;

    /// <summary><c>TCP_INFO</c>: <c>struct tcp_info</c>.</summary>
    public const int Info = 11;

    /// <summary><c>TCP_USER_TIMEOUT</c>: milliseconds bytes may stay unacknowledged before the kernel drops the connection.</summary>
    public const int UserTimeout = 18;
}
