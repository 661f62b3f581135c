namespace Eventsourced.Sockets;

/// <summary>
/// A connection feature: how many bytes the HTTP server has written to the connection's transport so
/// far, headers and chunk framing included. Read right after a flush, it is the position in the
/// connection's byte stream up to which that flush's bytes reach, the number the peer's TCP
/// acknowledgements are compared with.
/// </summary>
internal interface ITransportBytesFeature
{
    long BytesWritten { get; }

    /// <summary>
    /// The client's bytes the server has taken from the connection's transport so far (TLS records included), compared
    /// with the kernel's count of bytes received: what arrived before a moment has been read once this reaches it.
    /// </summary>
    long BytesRead => 0;
}
