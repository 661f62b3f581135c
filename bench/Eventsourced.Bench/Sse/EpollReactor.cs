using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Eventsourced.Bench.Sse;

/// <summary>
/// Connects and reads every stream's socket on a few dedicated threads (one per core), each waiting on
/// its own epoll set, the way a browser handles its connections on a network thread.
/// <para>
/// Why not async sockets: .NET's socket engine wakes its own epoll thread for each read and then a
/// thread-pool thread to run the continuation. On this 2-core machine, shared with the gateway and the
/// broker, that cost the tool 13-19 us of CPU per message in drain (one read per flush of the gateway),
/// CPU taken from the gateway being measured. Here the same thread that learns a socket is readable
/// reads and parses it: 2-3 us per message. The sockets never touch .NET's engine (no async operation
/// on them), so it is not woken by them either.
/// </para>
/// <para>
/// Each socket is armed one-shot: for writing while it connects, then for reading; after each read
/// its thread arms it again unless its stream is paused or has ended. Everything that changes a
/// connection's state runs on its thread: other threads post commands (pause, resume, close) and wake
/// the thread through an eventfd.
/// </para>
/// </summary>
internal sealed partial class EpollReactor
{
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int EpollCtlMod = 3;
    private const uint EpollIn = 0x001;
    private const uint EpollOut = 0x004;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollOneShot = 1u << 30;
    private const int CloExec = 0x80000;
    private const int Eintr = 4;
    private const int MaxEvents = 256;
    private const int BufferSize = 64 * 1024;

    // struct epoll_event is packed on x86-64 (4-byte events, then 8-byte data at offset 4); elsewhere its
    // data is 8-byte aligned.
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private static readonly Lazy<EpollReactor> SharedReactor = new(() => new EpollReactor(Environment.ProcessorCount));

    private readonly Loop[] _loops;
    private int _next;

    private EpollReactor(int threads)
    {
        _loops = new Loop[Math.Max(1, threads)];
        for (var i = 0; i < _loops.Length; i++)
        {
            _loops[i] = new Loop(i + 1);
        }
    }

    /// <summary>The reactor of this process, made on first use.</summary>
    public static EpollReactor Shared => SharedReactor.Value;

    /// <summary>
    /// Takes over <paramref name="socket"/>, non-blocking and connecting: once connected it sends
    /// <paramref name="request"/> and feeds whatever arrives to <paramref name="stream"/>.
    /// </summary>
    public Connection Start(SseStream stream, Socket socket, byte[] request)
    {
        var loop = _loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length)];
        var connection = new Connection(loop, stream, socket, request);
        loop.Post(connection, Command.Add);
        return connection;
    }

    internal enum Command
    {
        Add,
        Pause,
        Resume,
        Close,
    }

    private enum State
    {
        New,
        Connecting,
        Reading,
        /// <summary>Paused and not armed: nothing is read until it is resumed.</summary>
        Parked,
        Ended,
    }

    /// <summary>One socket on one loop. Its state is touched by that loop's thread only.</summary>
    internal sealed class Connection
    {
        private readonly Loop _loop;
        private readonly SseStream _stream;
        private readonly Socket _socket;
        private readonly byte[] _request;
        private readonly int _fd;
        private GCHandle _handle;
        private State _state;
        private bool _paused;

        public Connection(Loop loop, SseStream stream, Socket socket, byte[] request)
        {
            _loop = loop;
            _stream = stream;
            _socket = socket;
            _request = request;
            _fd = (int)socket.SafeHandle.DangerousGetHandle();
        }

        /// <summary>Completes (or fails with the socket's error) once the loop no longer looks at the socket.</summary>
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Pause() => _loop.Post(this, Command.Pause);

        public void Resume() => _loop.Post(this, Command.Resume);

        /// <summary>Ends the connection from this side; nothing more is read.</summary>
        public void Close() => _loop.Post(this, Command.Close);

        internal void Apply(Command command)
        {
            if (_state == State.Ended)
            {
                return;
            }

            try
            {
                Perform(command);
            }
            catch (Exception ex)
            {
                End(ex);
            }
        }

        private void Perform(Command command)
        {
            switch (command)
            {
                case Command.Add:
                    _handle = GCHandle.Alloc(this);
                    _state = State.Connecting;
                    Control(EpollCtlAdd, EpollOut);
                    break;
                case Command.Pause:
                    _paused = true;
                    break;
                case Command.Resume:
                    _paused = false;
                    if (_state == State.Parked)
                    {
                        _state = State.Reading;
                        Control(EpollCtlMod, EpollIn);
                    }

                    break;
                case Command.Close:
                    if (_state != State.New)
                    {
                        Control(EpollCtlDel, 0);
                    }

                    End(null);
                    break;
            }
        }

        /// <summary>On the loop's thread, when the socket is ready.</summary>
        internal void OnReady(byte[] buffer)
        {
            try
            {
                if (_state == State.Connecting)
                {
                    OnConnected();
                }
                else if (_state == State.Reading)
                {
                    if (!_stream.ReadAvailable(_socket, buffer))
                    {
                        End(null);
                    }
                    else if (_paused)
                    {
                        _state = State.Parked;
                    }
                    else
                    {
                        Control(EpollCtlMod, EpollIn);
                    }
                }
            }
            catch (Exception ex)
            {
                End(ex);
            }
        }

        private void OnConnected()
        {
            var error = (int)_socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
            if (error != 0)
            {
                throw new SocketException(error);
            }

            // A few hundred bytes into an empty send buffer: all of it goes at once.
            var sent = _socket.Send(_request, SocketFlags.None, out var sendError);
            if (sendError != SocketError.Success)
            {
                throw new SocketException((int)sendError);
            }

            if (sent != _request.Length)
            {
                throw new IOException($"only {sent} of the request's {_request.Length} bytes could be sent at once");
            }

            _state = State.Reading;
            Control(EpollCtlMod, EpollIn);
        }

        private void Control(int op, uint events)
        {
            Span<byte> ev = stackalloc byte[16];
            ev.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(ev, events | EpollRdHup | EpollOneShot);
            BinaryPrimitives.WriteInt64LittleEndian(ev[DataOffset..], GCHandle.ToIntPtr(_handle));
            int result;
            unsafe
            {
                fixed (byte* e = ev)
                {
                    result = EpollCtl(_loop.Epoll, op, _fd, e);
                }
            }

            if (result < 0 && op != EpollCtlDel)
            {
                throw new IOException($"epoll_ctl failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }

        private void End(Exception? error)
        {
            if (_state == State.Ended)
            {
                return;
            }

            // One-shot and never armed again (or removed): no event of this socket can come any more.
            _state = State.Ended;
            if (_handle.IsAllocated)
            {
                _handle.Free();
            }

            if (error is null)
            {
                Ended.TrySetResult();
            }
            else
            {
                Ended.TrySetException(error);
            }
        }
    }

    /// <summary>One thread, its epoll set, its eventfd for commands, its receive buffer.</summary>
    internal sealed class Loop
    {
        private readonly ConcurrentQueue<(Connection Connection, Command Command)> _commands = new();
        private readonly int _wake;
        private int _wakePending;

        public Loop(int number)
        {
            Epoll = EpollCreate1(CloExec);
            _wake = EventFd(0, CloExec);
            if (Epoll < 0 || _wake < 0)
            {
                throw new IOException($"epoll_create1 or eventfd failed: errno {Marshal.GetLastPInvokeError()}");
            }

            Span<byte> ev = stackalloc byte[16];
            ev.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(ev, EpollIn); // level-triggered; data 0 marks the eventfd
            unsafe
            {
                fixed (byte* e = ev)
                {
                    if (EpollCtl(Epoll, EpollCtlAdd, _wake, e) < 0)
                    {
                        throw new IOException($"epoll_ctl failed: errno {Marshal.GetLastPInvokeError()}");
                    }
                }
            }

            new Thread(Run) { IsBackground = true, Name = $"sse-reactor-{number}" }.Start();
        }

        public int Epoll { get; }

        public void Post(Connection connection, Command command)
        {
            _commands.Enqueue((connection, command));
            if (Interlocked.Exchange(ref _wakePending, 1) == 0)
            {
                Span<byte> one = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(one, 1);
                unsafe
                {
                    fixed (byte* p = one)
                    {
                        _ = Write(_wake, p, 8);
                    }
                }
            }
        }

        private void Run()
        {
            var events = new byte[MaxEvents * EventSize];
            var buffer = new byte[BufferSize];
            Span<byte> counter = stackalloc byte[8];
            while (true)
            {
                int ready;
                unsafe
                {
                    fixed (byte* e = events)
                    {
                        ready = EpollWait(Epoll, e, MaxEvents, -1);
                    }
                }

                if (ready < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Eintr)
                    {
                        continue;
                    }

                    Log.Line($"warning: epoll_wait failed (errno {Marshal.GetLastPInvokeError()}); the SSE reader thread stops");
                    return;
                }

                var woken = false;
                for (var i = 0; i < ready; i++)
                {
                    var data = BinaryPrimitives.ReadInt64LittleEndian(events.AsSpan((i * EventSize) + DataOffset, 8));
                    if (data == 0)
                    {
                        woken = true;
                        continue;
                    }

                    ((Connection)GCHandle.FromIntPtr((nint)data).Target!).OnReady(buffer);
                }

                if (woken)
                {
                    // Reset the eventfd before taking new wake-ups: a Post in between writes it again.
                    unsafe
                    {
                        fixed (byte* p = counter)
                        {
                            _ = Read(_wake, p, 8);
                        }
                    }

                    Volatile.Write(ref _wakePending, 0);
                }

                // After the events: a connection a command ends can have no event left in this batch.
                while (_commands.TryDequeue(out var command))
                {
                    command.Connection.Apply(command.Command);
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static unsafe partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static unsafe partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nint count);
}
