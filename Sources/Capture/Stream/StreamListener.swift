// Syslog over TCP (RFC 6587) and TLS (RFC 5425): a SwiftNIO server whose connections run on a fixed set of
// event loop threads, each frame handed to the caller on its connection's loop as a span of the receive
// buffer. Connection limit, idle timeout, truncation and framing errors are counted, never silent.
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// How a stream listener is set up.
public struct StreamListenerOptions: Sendable, Equatable {
    /// Port to listen on; 0 picks a free one (`StreamListener.start()` returns it).
    public var port: UInt16
    /// Local address: "::" (the default) takes IPv4 and IPv6; "0.0.0.0" IPv4 only; or one address.
    public var bindAddress = "::"
    /// Event loop threads; each connection stays on one. One thread frames several hundred MB/s, so
    /// more only help with TLS or with a handler that does real work per frame.
    public var threads = 1
    /// Connections open at once; one more is closed as soon as it is accepted and counted as refused.
    /// Each needs a file descriptor: keep RLIMIT_NOFILE above this plus what the rest of sotpd uses.
    public var maxConnections = 4096
    /// Close a connection after this long without a byte (counted as idle-closed); nil: never. Off by
    /// default: syslog senders keep quiet connections open for hours, and rsyslog's omfwd loses the
    /// first message it writes into a connection the server closed. Dead peers are still found by TCP
    /// keepalive, which is on.
    public var idleTimeout: Duration?
    /// Largest frame delivered whole (count and trailer excluded); longer ones arrive truncated to it.
    /// 64 KiB, as syslog-ng: rsyslog's 8 KiB cuts Java stack traces and JSON events, and the cost is
    /// only that a connection may hold this much of an unfinished frame.
    public var maxFrameBytes = 64 << 10
    /// Accept queue length (listen backlog; the kernel caps it at net.core.somaxconn).
    public var backlog = 1024
    /// TLS (syslog over TLS, RFC 5425) on this port; nil: plain TCP.
    public var tls: StreamTLSOptions?

    public init(port: UInt16) { self.port = port }
}

/// The transport a frame came over.
public enum StreamTransport: UInt8, Sendable, CustomStringConvertible {
    case tcp
    case tls

    public var description: String { self == .tcp ? "tcp" : "tls" }
}

/// What the handler learns about a frame besides its bytes.
public struct StreamFrameInfo: Sendable, Equatable {
    /// How the frame was delimited.
    public var framing: SyslogFraming
    /// The sender's frame was longer than `maxFrameBytes` (or the connection ended inside it); the bytes
    /// are its head.
    public var truncated: Bool
    public var transport: StreamTransport

    public init(framing: SyslogFraming, truncated: Bool, transport: StreamTransport) {
        self.framing = framing
        self.truncated = truncated
        self.transport = transport
    }
}

/// Why a listener could not be made or started: names the setting or file and what was wrong.
public struct StreamListenerError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A syslog stream listener. `handler(thread, frame, from, receivedMicros, info)` runs on event loop
/// `thread` (0..<threads) for every frame, with the bytes valid only during the call; calls with the
/// same `thread` never overlap, so per-thread state needs no lock. `receivedMicros` is when the read that
/// completed the frame was handled (unix microseconds).
public final class StreamListener: Sendable {
    public typealias Handler = @Sendable (_ thread: Int, _ frame: RawSpan, _ from: PeerAddress, _ receivedMicros: Int64, _ info: StreamFrameInfo) -> Void
    /// Runs on event loop `thread` every 100 ms while the listener runs, and once more at `stop()` after
    /// the last frame: for work that belongs to that thread (flushing what it buffered) and must happen
    /// even when no frame arrives.
    public typealias Housekeeping = @Sendable (_ thread: Int, _ nowMicros: Int64) -> Void

    public let stats = StreamListenerStats()
    public let options: StreamListenerOptions

    private let shared: StreamShared
    private let housekeeping: Housekeeping?
    private let sslContext: NIOSSLContext?
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var group: MultiThreadedEventLoopGroup?
        var server: Channel?
        var port: UInt16 = 0
        var tasks: [RepeatedTask] = []
        var stopped = false
    }

    /// Checks the options and loads the TLS files; threads start with `start()`.
    public init(options: StreamListenerOptions, housekeeping: Housekeeping? = nil, handler: @escaping Handler) throws(StreamListenerError) {
        func bad(_ what: String) -> StreamListenerError { StreamListenerError(description: what) }
        guard (1...256).contains(options.threads) else { throw bad("threads must be 1…256, got \(options.threads)") }
        guard options.maxConnections >= 1 else { throw bad("maxConnections must be at least 1, got \(options.maxConnections)") }
        guard (1...(64 << 20)).contains(options.maxFrameBytes) else {
            throw bad("maxFrameBytes must be 1…\(64 << 20), got \(options.maxFrameBytes)")
        }
        guard (1...65535).contains(options.backlog) else { throw bad("backlog must be 1…65535, got \(options.backlog)") }
        if let t = options.idleTimeout, t <= .zero { throw bad("idleTimeout must be positive, got \(t)") }
        if let t = options.tls?.handshakeTimeout, t <= .zero { throw bad("tls.handshakeTimeout must be positive, got \(t)") }
        do { _ = try SocketAddress(ipAddress: options.bindAddress, port: Int(options.port)) } catch {
            throw bad("bind address \"\(options.bindAddress)\" is not an IPv4 or IPv6 address")
        }
        sslContext = try options.tls?.makeContext()
        self.options = options
        self.housekeeping = housekeeping
        shared = StreamShared(stats: stats, handler: handler, maxFrameBytes: options.maxFrameBytes)
    }

    deinit { stop() }

    /// The port bound (the chosen one when the options asked for 0); 0 before `start()`.
    public var port: UInt16 { state.withLock { $0.port } }

    /// Starts the event loops and binds; returns the port bound. Throws if the address cannot be bound.
    /// Call once.
    @discardableResult
    public func start() throws(StreamListenerError) -> UInt16 {
        guard state.withLock({ $0.group == nil && !$0.stopped }) else {
            throw StreamListenerError(description: "start() called on a listener that was started or stopped")
        }
        let o = options
        let group = MultiThreadedEventLoopGroup(numberOfThreads: o.threads)
        let loops = Array(group.makeIterator())
        let shared = shared, stats = stats, ssl = sslContext
        func nanos(_ d: Duration) -> TimeAmount { .nanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000) }
        let idle = o.idleTimeout.map(nanos)
        let handshakeTimeout = nanos(o.tls?.handshakeTimeout ?? .seconds(10))
        let transport: StreamTransport = ssl == nil ? .tcp : .tls
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(o.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                stats.accepted.wrappingAdd(1, ordering: .relaxed)
                guard Self.admit(stats, max: o.maxConnections) else {
                    stats.refused.wrappingAdd(1, ordering: .relaxed)
                    return channel.eventLoop.makeFailedFuture(StreamListenerError(description: "connection limit"))
                }
                let id = ObjectIdentifier(channel)
                let registered = shared.connections.withLock { c in
                    if c.stopping { return false }
                    c.open[id] = channel
                    return true
                }
                guard registered else {
                    stats.open.wrappingSubtract(1, ordering: .relaxed)
                    return channel.eventLoop.makeFailedFuture(StreamListenerError(description: "stopping"))
                }
                channel.closeFuture.whenComplete { _ in
                    stats.open.wrappingSubtract(1, ordering: .relaxed)
                    shared.connections.withLock { _ = $0.open.removeValue(forKey: id) }
                }
                let thread = loops.firstIndex { $0 === channel.eventLoop } ?? 0
                let peer = PeerAddress(channel.remoteAddress)
                do {
                    let pipeline = channel.pipeline.syncOperations
                    if let idle {
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                        try pipeline.addHandler(IdleCloser(stats: stats))
                    }
                    if let ssl {
                        try pipeline.addHandler(NIOSSLServerHandler(context: ssl))
                        try pipeline.addHandler(TLSHandshakeWatcher(stats: stats, timeout: handshakeTimeout))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(
                        SyslogStreamDecoder(shared: shared, thread: thread, peer: peer, transport: transport)
                    ))
                    try pipeline.addHandler(CloseOnError())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let server: Channel
        do {
            server = try bootstrap.bind(host: o.bindAddress, port: Int(o.port)).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw StreamListenerError(description: "\(transport) \(o.bindAddress) port \(o.port): bind: \(error)")
        }
        var tasks: [RepeatedTask] = []
        if let housekeeping {
            for (i, loop) in loops.enumerated() {
                tasks.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                    housekeeping(i, unixMicrosNow())
                })
            }
        }
        let port = UInt16(server.localAddress?.port ?? 0)
        state.withLock {
            $0.group = group
            $0.server = server
            $0.port = port
            $0.tasks = tasks
        }
        return port
    }

    /// Stops accepting, closes every connection (their unfinished frames are delivered), runs the
    /// housekeeping once more on each thread and stops the threads. Waits for all that, so it must not be
    /// called from the handler or an event loop.
    public func stop() {
        let (group, server, tasks) = state.withLock { s -> (MultiThreadedEventLoopGroup?, Channel?, [RepeatedTask]) in
            if s.stopped { return (nil, nil, []) }
            s.stopped = true
            return (s.group, s.server, s.tasks)
        }
        guard let group, let server else { return }
        try? server.close().wait()
        for t in tasks { t.cancel() }
        // Closing the connections delivers their unfinished frames before the last housekeeping runs.
        let open = shared.connections.withLock { c -> [Channel] in
            c.stopping = true
            return Array(c.open.values)
        }
        for channel in open {
            channel.close(promise: nil)
            try? channel.closeFuture.wait()
        }
        if let housekeeping {
            for (i, loop) in group.makeIterator().enumerated() {
                try? loop.submit { housekeeping(i, unixMicrosNow()) }.wait()
            }
        }
        try? group.syncShutdownGracefully()
    }

    /// Takes a slot under `maxConnections`, or returns false when all are taken.
    private static func admit(_ stats: StreamListenerStats, max: Int) -> Bool {
        var open = stats.open.load(ordering: .relaxed)
        while open < max {
            let (exchanged, now) = stats.open.compareExchange(expected: open, desired: open + 1, ordering: .relaxed)
            if exchanged { return true }
            open = now
        }
        return false
    }
}
